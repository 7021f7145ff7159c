"""Real network servers for channel tests: a private CA and a server certificate
(made with ``cryptography``), SMTP servers (aiosmtpd) with STARTTLS, implicit TLS
and AUTH, and small HTTP servers (``http.server``) that answer as told.

Imported by tests as ``import netservers`` (``tests/`` is on sys.path).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Certificates:
    """PEM files: the CA (what a client trusts) and the server's chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A private CA and a server certificate for ``localhost`` and ``127.0.0.1``
    signed by it (what a clinic's own mail relay typically has)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Clinic CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file = directory / "server.pem"
    cert_file.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_file = directory / "server.key"
    key_file.write_bytes(
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificates(ca_file, cert_file, key_file)


@dataclass
class MailServer:
    """What one aiosmtpd server saw: messages, and every AUTH attempt with whether
    the connection was encrypted at that moment."""

    port: int
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # user, password, tls
    accept: tuple[str, str] = ("mailer", "Mail-Pass-1")

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        password = auth_data.password.decode()
        encrypted = session.ssl is not None or server.transport.get_extra_info("sslcontext")
        self.logins.append((user, password, bool(encrypted)))
        return AuthResult(success=(user, password) == self.accept)


@contextmanager
def smtp_server(
    mode: str, certificates: Certificates | None = None, *, auth: bool = True
) -> Iterator[MailServer]:
    """An SMTP server on 127.0.0.1: ``starttls`` (STARTTLS offered and required,
    AUTH only after it), ``ssl`` (TLS from the first byte) or ``plain`` (no TLS at
    all; AUTH allowed on it, so a client that sends a password is seen doing so)."""
    server = MailServer(port=free_port())
    kwargs: dict[str, object] = {"hostname": "127.0.0.1", "port": server.port}
    if auth:
        kwargs.update(authenticator=server.authenticate, auth_required=True)
    if mode == "starttls":
        assert certificates is not None
        kwargs.update(tls_context=certificates.server_context(), require_starttls=True)
    elif mode == "ssl":
        assert certificates is not None
        # the whole connection is TLS: aiosmtpd only knows about STARTTLS here
        kwargs.update(ssl_context=certificates.server_context(), auth_require_tls=False)
    elif mode == "plain":
        kwargs.update(auth_require_tls=False)
    else:
        raise ValueError(mode)
    controller = Controller(server, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@contextmanager
def silent_tcp_server() -> Iterator[tuple[int, threading.Event, threading.Event]]:
    """A TCP server that accepts a connection and says nothing until released:
    ``(port, connected, release)``. Stands in for a hung mail server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    connected, release = threading.Event(), threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not release.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            connected.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, connected, release
    finally:
        release.set()
        for conn in accepted:
            conn.close()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        thread.join(timeout=5)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@contextmanager
def http_server(
    respond: Callable[[Received], tuple[int, dict[str, str]] | bytes],
) -> Iterator[tuple[str, list[Received]]]:
    """An HTTP server on 127.0.0.1; ``respond`` gets each request and returns
    ``(status, headers)`` or raw bytes to write as the whole answer (for broken
    answers). Yields the base URL and the list of requests received."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(self.command, self.path, dict(self.headers), self.rfile.read(length))
            received.append(request)
            answer = respond(request)
            if isinstance(answer, bytes):
                self.wfile.write(answer)
                self.wfile.flush()
                self.close_connection = True
                return
            status, headers = answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _handle  # noqa: N815 (http.server API)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
