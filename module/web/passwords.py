"""Password verification as PHP's ``password_verify`` does it, with well-kept libraries.

OpenEMR stores ``password_hash()`` output in ``users_secure.password``: bcrypt
(``$2y$``, PHP's default) or, when the site chose it (``gbl_auth_hash_algo``), Argon2
(``$argon2i$`` / ``$argon2id$``). Anything else never verifies.
"""

from __future__ import annotations

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_BCRYPT_PREFIXES = ("$2y$", "$2a$", "$2b$", "$2x$")
_ARGON2_PREFIXES = ("$argon2i$", "$argon2id$")
_ARGON2 = PasswordHasher()
# bcrypt only reads the first 72 bytes of a password; PHP silently truncates, the
# Python library refuses longer input, so truncate the way PHP does.
_BCRYPT_MAX_BYTES = 72


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (PHP ``password_verify`` semantics)."""
    if not stored_hash or password is None:
        return False
    if stored_hash.startswith(_BCRYPT_PREFIXES):
        # $2y$ (PHP) and $2b$ (OpenBSD) are the same algorithm; the library speaks $2b$.
        normalised = "$2b$" + stored_hash[4:]
        try:
            return bcrypt.checkpw(password.encode("utf-8")[:_BCRYPT_MAX_BYTES],
                                  normalised.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return False
    if stored_hash.startswith(_ARGON2_PREFIXES):
        try:
            return _ARGON2.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return False
