"""Pure checks of what users type or upload for stock commands: receipt lines (single
form and delivery CSV) and stock-take CSV. Every problem is reported per line and
column; nothing here touches a database.

Limits come from the columns the rows land in (OpenEMR's ``int(11)`` quantities,
``decimal(12,2)`` lot costs and sale fees), so a value that passes here never makes
an INSERT fail half-way ("unexpected error (DataError)").
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ..errors import InvalidInputError

# drug_inventory.lot_number is varchar(20) in OpenEMR's schema; drug_sales.notes 255
LOT_NUMBER_MAX = 20
NOTES_MAX = 255
CENTS = Decimal("0.01")
INT_MAX = 2_147_483_647  # OpenEMR's int(11) on_hand / quantity columns
MONEY_MAX = Decimal("9999999999.99")  # decimal(12,2): drug_inventory.unit_cost, drug_sales.fee

DELIVERY_COLUMNS: tuple[str, ...] = (
    "product", "lot", "expires", "quantity", "unit_cost", "warehouse", "packages",
    "units_per_package",
)
DELIVERY_REQUIRED: tuple[str, ...] = ("product", "lot", "expires", "unit_cost")
COUNT_COLUMNS: tuple[str, ...] = ("lot_id", "counted", "notes")

# ASCII only: Python's int() also reads Arabic-Indic or full-width digits, which no
# clinic types on purpose and a spreadsheet does not treat as numbers
_WHOLE = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


class StockInputError(InvalidInputError):
    """A receipt, transfer, adjustment or count is invalid; nothing was written."""


@dataclass(frozen=True)
class LineError:
    """One problem of an input file: 1-based line (header = line 1) and column."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.line == 0:  # from the command line: name the option
            return f"--{self.column.replace('_', '-')}: {self.message}"
        return f"line {self.line}, column {self.column}: {self.message}"


class FileValidationError(StockInputError):
    """An input file has invalid lines; carries every problem, names the first."""

    def __init__(self, source: str, errors: Sequence[LineError]) -> None:
        self.source = source
        self.errors = tuple(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        where = f"{source}: " if errors[0].line else ""
        super().__init__(f"{where}{errors[0]}{more}; nothing was written")


@dataclass(frozen=True)
class ReceiptLine:
    """One received lot: ``quantity`` units at ``unit_cost`` each (product by id or name)."""

    product: str
    lot_number: str
    expires: date
    quantity: int
    unit_cost: Decimal
    warehouse: str = ""
    units_per_package: int | None = None
    line: int = 0  # line in the delivery file (0 = command line)

    @property
    def total_cost(self) -> Decimal:
        return (self.unit_cost * self.quantity).quantize(CENTS, ROUND_HALF_UP)


def is_whole_number(text: str) -> bool:
    """ASCII digits only (no sign, no underscores, no other scripts' digits)."""
    return bool(_WHOLE.fullmatch(text))


def parse_whole(raw: object, column: str, line: int, errors: list[LineError], *,
                minimum: int = 1) -> int | None:
    """A whole number from ASCII digits between ``minimum`` and INT_MAX, else an error."""
    text = str(raw if raw is not None else "").strip()
    if text.startswith("-") and is_whole_number(text[1:]):
        what = "must be positive" if minimum >= 1 else "must not be negative"
        errors.append(LineError(line, column, f"{what}, got {text}"))
        return None
    if not is_whole_number(text):
        errors.append(LineError(line, column, f"expected a whole number, got {raw!r}"))
        return None
    value = int(text)
    if value < minimum:
        what = "positive" if minimum == 1 else f"at least {minimum}"
        errors.append(LineError(line, column, f"must be {what}, got {value}"))
        return None
    if value > INT_MAX:
        errors.append(LineError(line, column, f"{value} is too large (at most {INT_MAX})"))
        return None
    return value


def _parse_cost(raw: object, line: int, errors: list[LineError]) -> Decimal | None:
    text = str(raw if raw is not None else "").strip()
    body = text[1:] if text.startswith("-") else text
    try:
        if not _DECIMAL.fullmatch(body):
            raise InvalidOperation
        cost = Decimal(text)
    except (InvalidOperation, ValueError):
        errors.append(LineError(line, "unit_cost", f"expected a number such as 12.50, "
                                                   f"got {raw!r}"))
        return None
    if cost < 0:
        errors.append(LineError(line, "unit_cost", f"must not be negative, got {cost}"))
        return None
    if cost > MONEY_MAX:
        errors.append(LineError(line, "unit_cost", f"{text} is too large (at most "
                                                   f"{MONEY_MAX})"))
        return None
    return cost


def check_lot_number(raw: str | None, line: int, errors: list[LineError]) -> str:
    """A lot number: not empty, at most 20 characters, no control or invisible
    formatting characters (a newline would split every CSV and label it appears on)."""
    lot_number = (raw or "").strip()
    if not lot_number:
        errors.append(LineError(line, "lot", "is empty"))
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in lot_number):
        errors.append(LineError(line, "lot", f"contains a control character: {lot_number!r}"))
    elif len(lot_number) > LOT_NUMBER_MAX:
        errors.append(LineError(line, "lot", f"longer than {LOT_NUMBER_MAX} characters"))
    return lot_number


def _parse_expiry(expires: str | date, today: date, line: int,
                  errors: list[LineError]) -> date | None:
    expiry: date | None = None
    if isinstance(expires, date):
        expiry = expires
    else:
        text = (expires or "").strip()
        try:
            if not text.isascii():
                raise ValueError
            expiry = date.fromisoformat(text)
        except ValueError:
            errors.append(LineError(line, "expires", f"expected YYYY-MM-DD, got {expires!r}"))
    if expiry is not None and expiry <= today:
        errors.append(LineError(
            line, "expires", f"{expiry.isoformat()} is not after the receipt date "
            f"{today.isoformat()}"))
        return None
    return expiry


def _parse_units(quantity: str | int | None, packages: str | int | None,
                 units_per_package: str | int | None, line: int,
                 errors: list[LineError]) -> tuple[int | None, int | None]:
    """(units, units per package): from --quantity, or packages x units per package."""
    if packages in (None, "") and units_per_package in (None, ""):
        if quantity in (None, ""):
            errors.append(LineError(line, "quantity", "is empty"))
            return None, None
        return parse_whole(quantity, "quantity", line, errors), None
    if packages in (None, "") or units_per_package in (None, ""):
        errors.append(LineError(line, "packages", "packages and units_per_package go together"))
        return None, None
    n = parse_whole(packages, "packages", line, errors)
    per_package = parse_whole(units_per_package, "units_per_package", line, errors)
    if n is None or per_package is None:
        return None, per_package
    qty = n * per_package
    if qty > INT_MAX:
        errors.append(LineError(line, "packages", f"{n} x {per_package} = {qty} units is too "
                                                  f"large (at most {INT_MAX})"))
        return None, per_package
    if quantity not in (None, "") and str(quantity).strip() != str(qty):
        errors.append(LineError(
            line, "quantity", f"{quantity} differs from packages x units_per_package = {qty}"))
        return None, per_package
    return qty, per_package


def validate_receipt(
    *,
    product: str,
    lot_number: str,
    expires: str | date,
    quantity: str | int | None,
    unit_cost: str | Decimal,
    today: date,
    warehouse: str = "",
    packages: str | int | None = None,
    units_per_package: str | int | None = None,
    line: int = 0,
) -> tuple[ReceiptLine | None, list[LineError]]:
    """Check one receipt line (seed 004: expiry after the received date; positive
    quantity, non-negative cost; values the columns can hold) and return it with the
    list of its problems."""
    errors: list[LineError] = []
    product = (product or "").strip()
    if not product:
        errors.append(LineError(line, "product", "is empty"))
    lot = check_lot_number(lot_number, line, errors)
    expiry = _parse_expiry(expires, today, line, errors)
    cost = _parse_cost(unit_cost, line, errors)
    qty, per_package = _parse_units(quantity, packages, units_per_package, line, errors)
    if qty is not None and cost is not None and cost * qty > MONEY_MAX:
        errors.append(LineError(line, "unit_cost", f"{qty} x {cost} = {cost * qty:.2f} is "
                                                   f"too large for one line (at most "
                                                   f"{MONEY_MAX})"))
    if errors or qty is None or cost is None or expiry is None:
        return None, errors
    return ReceiptLine(product, lot, expiry, qty, cost, (warehouse or "").strip(),
                       per_package, line), errors


def _read_csv(text: str, columns: tuple[str, ...], required: tuple[str, ...],
              source: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise FileValidationError(source, [LineError(1, "-", "the file is empty")]) from None
    names = [h.strip().lower() for h in header]
    errors = [LineError(1, n or "-", "unknown column") for n in names if n not in columns]
    errors += [LineError(1, n, "duplicate column") for i, n in enumerate(names)
               if n in columns and n in names[:i]]
    errors += [LineError(1, c, "missing column") for c in required if c not in names]
    if errors:
        raise FileValidationError(source, errors)
    rows: list[tuple[int, dict[str, str]]] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            raise FileValidationError(
                source, [LineError(line, "-", f"{len(values)} fields, header has {len(names)}")])
        rows.append((line, {n: (values[i] if i < len(values) else "") for i, n in
                            enumerate(names)}))
    if not rows:
        raise FileValidationError(source, [LineError(2, "-", "no data lines")])
    return rows


def parse_delivery(text: str, *, today: date, source: str = "delivery") -> list[ReceiptLine]:
    """Parse and validate a delivery CSV; every line is checked before anything is
    written, and the error names each bad line and column."""
    lines, errors = check_delivery(text, today=today, source=source)
    if errors:
        raise FileValidationError(source, errors)
    return lines


def with_package_size(
    units_per_package: str | int | None, packages: str | int | None, product: str,
    package_size: Callable[[str], int | None] | None,
) -> str | int | None:
    """``units_per_package`` as given, else (packages given) the product's package size
    from ``package_size``; an unknown product gets 1, so the receipt reports the
    product itself by name."""
    if packages in (None, "") or units_per_package not in (None, "") or package_size is None:
        return units_per_package
    return package_size(product.strip()) or 1


def check_delivery(text: str, *, today: date, source: str = "delivery",
                   package_size: Callable[[str], int | None] | None = None,
                   ) -> tuple[list[ReceiptLine], list[LineError]]:
    """The valid lines of a delivery CSV and the problems of the others (a header
    problem still raises), so the database checks can report on the valid ones too."""
    rows = _read_csv(text, DELIVERY_COLUMNS, DELIVERY_REQUIRED, source)
    lines: list[ReceiptLine] = []
    errors: list[LineError] = []
    for line, row in rows:
        parsed, problems = validate_receipt(
            product=row.get("product", ""), lot_number=row.get("lot", ""),
            expires=row.get("expires", ""), quantity=row.get("quantity"),
            unit_cost=row.get("unit_cost", ""), today=today,
            warehouse=row.get("warehouse", ""), packages=row.get("packages"),
            units_per_package=with_package_size(
                row.get("units_per_package"), row.get("packages"), row.get("product", ""),
                package_size),
            line=line,
        )
        errors += problems
        if parsed is not None:
            lines.append(parsed)
    return lines, errors


@dataclass(frozen=True)
class CountLine:
    """One counted lot."""

    inventory_id: int
    counted: int
    notes: str = ""
    line: int = 0


def parse_count(text: str, *, source: str = "count") -> list[CountLine]:
    """Parse a stock-take CSV (``lot_id,counted[,notes]``); a lot listed twice is an error."""
    rows = _read_csv(text, COUNT_COLUMNS, ("lot_id", "counted"), source)
    out: list[CountLine] = []
    errors: list[LineError] = []
    seen: dict[int, int] = {}
    for line, row in rows:
        problems: list[LineError] = []
        lot = parse_whole(row["lot_id"], "lot_id", line, problems)
        counted = parse_whole(row["counted"], "counted", line, problems, minimum=0)
        errors += problems
        if lot is None or counted is None:
            continue
        if lot in seen:
            errors.append(LineError(line, "lot_id", f"lot {lot} already counted on line "
                                                    f"{seen[lot]}"))
            continue
        seen[lot] = line
        out.append(CountLine(lot, counted, row.get("notes", "").strip()[:NOTES_MAX], line))
    if errors:
        raise FileValidationError(source, errors)
    return out
