"""Pure GS1 scan rules: what a barcode says (GTIN, lot, expiry, serial) and why a scan
is refused. Parsing is ``biip``'s (raw scanner output with ``]d2``/``]C1`` symbology
prefixes and GS separators, bracketed human-readable text, GS1 Digital Link URLs); this
module only adds the checks a clinic needs. No database here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import biip
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message

from ..errors import InvalidInputError

GS = "\x1d"
SCAN_MAX = 512
_SWALLOWED_EXPIRY = re.compile(r"17(\d{2})(\d{2})(\d{2})")
SCANNER_HINT = ("the scanner drops the GS1 group separator (GS, ASCII 29): configure it "
                "to transmit GS / FNC1, then scan again")


class ScanError(InvalidInputError):
    """A scan that cannot be used; nothing was written."""


@dataclass(frozen=True)
class Scan:
    """What one GS1 barcode says (AI 01, 10, 17, 21)."""

    gtin: str
    lot: str | None = None
    expires: date | None = None
    serial: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"gtin": self.gtin, "lot": self.lot, "serial": self.serial,
                "expires": None if self.expires is None else self.expires.isoformat()}


def _elements(text: str) -> list[GS1ElementString]:
    """The element strings of a scan, or a ScanError saying why there are none."""
    if text.startswith("("):
        try:
            return list(GS1Message.parse_hri(text).element_strings)
        except biip.ParseError as exc:
            raise ScanError(f"not a GS1 barcode: {exc}") from None
    result = biip.parse(text)
    if result.gs1_digital_link_uri is not None:
        return list(result.gs1_digital_link_uri.element_strings)
    if result.gs1_message is not None:
        return list(result.gs1_message.element_strings)
    errors = [e for e in (result.gs1_message_error, result.gs1_digital_link_uri_error,
                          result.gtin_error) if e]
    check = next((e for e in errors if "check digit" in e), None)
    if check is not None:
        raise ScanError(f"check digit error: {check.rstrip('.')}; scan again or type the "
                        "code from the label")
    if result.gtin is not None:
        return [GS1ElementString.extract(f"01{result.gtin.as_gtin_14()}")]
    raise ScanError(f"not a GS1 barcode: {text[:60]!r}")


def _valid_yymmdd(yy: str, mm: str, dd: str) -> bool:
    month, day = int(mm), int(dd)
    if not 1 <= month <= 12:
        return False
    if day == 0:  # GS1: day 00 = the end of the month
        return True
    try:
        date(2000 + int(yy), month, day)
    except ValueError:
        return False
    return True


def parse_scan(raw: str) -> Scan:
    """Parse one scan (refused: empty, not GS1, no GTIN, a check-digit error, a lot or
    serial that swallowed the expiry because the scanner dropped the GS separator)."""
    text = raw.strip(" \r\n\t")
    if not text:
        raise ScanError("the scan is empty")
    if len(text) > SCAN_MAX:
        raise ScanError(f"the scan is longer than {SCAN_MAX} characters")
    found: dict[str, GS1ElementString] = {}
    for element in _elements(text):
        found.setdefault(element.ai.ai, element)
    gtin_element = found.get("01")
    if gtin_element is None:
        raise ScanError("the barcode has no GTIN (AI 01): scan the product's GS1 barcode")
    if gtin_element.gtin_error:
        raise ScanError(f"check digit error: {gtin_element.gtin_error.rstrip('.')}; scan "
                        "again or type the code from the label")
    lot = found["10"].value if "10" in found else None
    serial = found["21"].value if "21" in found else None
    expiry = found.get("17")
    if expiry is None:
        for name, value in (("lot", lot), ("serial", serial)):
            match = _SWALLOWED_EXPIRY.search(value or "")
            if match and _valid_yymmdd(*match.groups()):
                raise ScanError(f"the {name} {value!r} contains the expiry "
                                f"(17){''.join(match.groups())}: {SCANNER_HINT}")
    expires = None if expiry is None else expiry.date
    return Scan(gtin_element.value, lot, expires, serial)


def check_not_expired(scan: Scan, today: date) -> None:
    """Refuse a scan whose expiry (AI 17) is before today."""
    if scan.expires is not None and scan.expires < today:
        raise ScanError(f"lot {scan.lot or '?'} expired on {scan.expires.isoformat()}; "
                        "do not use it")


def require_lot(scan: Scan) -> str:
    """The scan's lot (AI 10), or a ScanError: a GTIN-only barcode cannot name a lot."""
    if not scan.lot:
        raise ScanError(f"the barcode of GTIN {scan.gtin} has no lot (AI 10): scan the "
                        "GS1 DataMatrix or GS1-128 barcode that carries the lot")
    return scan.lot
