"""Pure product rules: counting unit and package, level checks, GTINs and the NDC a US
GTIN carries. No database here: frozen dataclasses in and out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from biip.checksums import gs1_standard_check_digit

from ..errors import InvalidInputError

UNIT_MAX = 31  # counting_unit / package_unit are varchar(31)
NAME_MAX = 255  # drugs.name
NDC_MAX = 20  # drugs.ndc_number
CATEGORY_MAX = 63  # drugs.aesthetic_category
DEFAULT_PACKAGE_UNIT = "package"

T = TypeVar("T")


class ProductInputError(InvalidInputError):
    """A product option is invalid; nothing was written."""


@dataclass(frozen=True)
class PackageSettings:
    """What the module adds to an OpenEMR product (``aesthetic_inventory_product_stock``)."""

    units_per_package: int = 1
    counting_unit: str = ""
    package_unit: str = ""
    beyond_use_hours: int | None = None
    diluent_ml: Decimal | None = None
    single_patient: bool = False
    min_level: int | None = None

    @property
    def counted_in_units(self) -> bool:
        """The containers engine applies: a counting unit and more than one per package."""
        return bool(self.counting_unit) and self.units_per_package > 1

    @property
    def package_name(self) -> str:
        return self.package_unit or DEFAULT_PACKAGE_UNIT


@dataclass(frozen=True)
class Product:
    """One ``drugs`` row with the module's columns, its GTINs and stock on hand."""

    drug_id: int
    name: str
    ndc_number: str
    active: bool
    category: str
    unit_cost: Decimal
    supplier: str
    reorder_point: int
    max_level: int
    settings: PackageSettings
    gtins: tuple[str, ...] = ()
    on_hand: int = 0
    form: str = ""
    size: str = ""
    unit: str = ""
    route: str = ""

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of ``products list|show --json``."""
        s = self.settings
        return {
            "id": self.drug_id, "name": self.name, "ndc": self.ndc_number,
            "active": self.active, "category": self.category, "unitCost": str(self.unit_cost),
            "supplier": self.supplier, "reorderPoint": self.reorder_point,
            "maxLevel": self.max_level, "minLevel": s.min_level,
            "countingUnit": s.counting_unit, "packageUnit": s.package_name,
            "packageSize": s.units_per_package, "countedInUnits": s.counted_in_units,
            "beyondUseHours": s.beyond_use_hours,
            "diluentMl": None if s.diluent_ml is None else str(s.diluent_ml),
            "singlePatient": s.single_patient, "gtins": list(self.gtins),
            "onHand": self.on_hand, "stock": describe_stock(self.on_hand, s),
        }


@dataclass(frozen=True)
class ProductChange:
    """Options of ``products add|set``: None = not given (keep what is there)."""

    counting_unit: str | None = None
    package_unit: str | None = None
    units_per_package: int | None = None
    beyond_use_hours: int | None = None
    clear_beyond_use: bool = False
    diluent_ml: Decimal | None = None
    single_patient: bool | None = None
    category: str | None = None
    unit_cost: Decimal | None = None
    supplier: str | None = None
    reorder_point: int | None = None
    min_level: int | None = None
    max_level: int | None = None
    gtins: tuple[str, ...] = field(default=())

    @property
    def touches_settings(self) -> bool:
        return any(v is not None for v in (
            self.counting_unit, self.package_unit, self.units_per_package,
            self.beyond_use_hours, self.diluent_ml, self.single_patient, self.min_level,
        )) or self.clear_beyond_use

    @property
    def touches_drug(self) -> bool:
        return any(v is not None for v in (
            self.category, self.unit_cost, self.supplier, self.reorder_point, self.max_level))


def describe_stock(units: int, settings: PackageSettings, *, plural: bool = False) -> str:
    """Stock in packages and counting units: ``2 vial + 40 U`` (``120`` when the product
    is counted as OpenEMR counts); ``plural`` names more than one package in the plural
    (``2 vials + 40 U``, ``3 boxes``)."""
    if not settings.counted_in_units:
        return str(units)
    size = settings.units_per_package
    whole, rest = divmod(abs(units), size)
    sign = "-" if units < 0 else ""
    parts = []
    if whole:
        name = settings.package_name
        parts.append(f"{whole} {plural_noun(name) if plural and whole != 1 else name}")
    if rest or not whole:
        parts.append(f"{rest} {settings.counting_unit}")
    return sign + " + ".join(parts)


def plural_noun(noun: str) -> str:
    """The English plural of a package name: ``vial`` -> ``vials``, ``box`` ->
    ``boxes``, ``ampoule`` -> ``ampoules``, ``pouch`` -> ``pouches``, ``syringe`` ->
    ``syringes``, ``battery`` -> ``batteries``; an upper-case abbreviation or a name
    already ending in ``s`` stays as it is."""
    if not noun or noun[-1].isupper() or noun[-1] in "sS" or not noun[-1].isalpha():
        return noun
    if noun.endswith(("x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def apply_change(current: PackageSettings, change: ProductChange) -> PackageSettings:
    """The settings after ``change`` (validated: see :func:`check_settings`)."""
    updated = replace(
        current,
        counting_unit=_given(change.counting_unit, current.counting_unit),
        package_unit=_given(change.package_unit, current.package_unit),
        units_per_package=_given(change.units_per_package, current.units_per_package),
        beyond_use_hours=None if change.clear_beyond_use else _given(
            change.beyond_use_hours, current.beyond_use_hours),
        diluent_ml=_given(change.diluent_ml, current.diluent_ml),
        single_patient=_given(change.single_patient, current.single_patient),
        min_level=_given(change.min_level, current.min_level),
    )
    check_settings(updated)
    return updated


def _given(value: T | None, current: T) -> T:
    return current if value is None else value


def check_settings(s: PackageSettings) -> None:
    """Refuse settings the containers engine could not use."""
    for name, value in (("--unit", s.counting_unit), ("--package-unit", s.package_unit)):
        if len(value) > UNIT_MAX:
            raise ProductInputError(f"{name}: longer than {UNIT_MAX} characters")
    if s.units_per_package < 1:
        raise ProductInputError(f"--package-size must be at least 1, got {s.units_per_package}")
    if s.beyond_use_hours is not None and s.beyond_use_hours < 1:
        raise ProductInputError(
            f"--beyond-use-hours must be at least 1, got {s.beyond_use_hours}")
    if s.diluent_ml is not None and not (Decimal(0) < s.diluent_ml < Decimal(100000)):
        raise ProductInputError(f"--diluent-ml must be above 0 and below 100000, got "
                                f"{s.diluent_ml}")
    if s.min_level is not None and s.min_level < 0:
        raise ProductInputError(f"--min must not be negative, got {s.min_level}")


def check_levels(min_level: int | None, reorder_point: int, max_level: int) -> None:
    """min <= reorder point <= max, among the levels that are set (OpenEMR stores 0 for a
    reorder point or max level that does not apply)."""
    if reorder_point < 0 or max_level < 0:
        raise ProductInputError("--reorder-point and --max must not be negative")
    reorder = reorder_point or None
    top = max_level or None
    pairs = (("min", min_level, "reorder point", reorder), ("reorder point", reorder, "max", top),
             ("min", min_level, "max", top))
    for low_name, low, high_name, high in pairs:
        if low is not None and high is not None and low > high:
            raise ProductInputError(f"{low_name} {low} is above {high_name} {high}: "
                                    "levels must be min <= reorder point <= max")


def parse_decimal(raw: str, option: str) -> Decimal:
    """A finite decimal from an option, or a one-line error naming the option."""
    try:
        value = Decimal(raw.strip())
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise ProductInputError(f"{option}: expected a number, got {raw!r}") from None
    return value


# -- GTINs and NDCs ------------------------------------------------------------------

_DIGITS = re.compile(r"^\d+$")


def normalize_gtin(raw: str) -> str:
    """A GTIN-8/12/13/14 as the 14 digits GS1 element strings carry (AI 01), check digit
    verified."""
    digits = raw.strip().replace(" ", "").replace("-", "")
    if not _DIGITS.match(digits) or len(digits) not in (8, 12, 13, 14):
        raise ProductInputError(f"--gtin: expected 8, 12, 13 or 14 digits, got {raw!r}")
    gtin = digits.zfill(14)
    expected = gs1_standard_check_digit(gtin[:-1])
    if str(expected) != gtin[-1]:
        raise ProductInputError(
            f"--gtin {raw}: check digit error (expected {expected}, got {gtin[-1]})")
    return gtin


def ndc_in_gtin(gtin: str) -> str | None:
    """The 10-digit NDC inside a US drug GTIN-14 (indicator, GS1 prefix 03, NDC, check
    digit), else None."""
    if len(gtin) == 14 and gtin[1:3] == "03":
        return gtin[3:13]
    return None


def _ndc11_forms(ndc10: str) -> set[str]:
    """The 11-digit (5-4-2) forms a 10-digit NDC may have: 4-4-2, 5-3-2 or 5-4-1."""
    return {"0" + ndc10, ndc10[:5] + "0" + ndc10[5:], ndc10[:9] + "0" + ndc10[9:]}


def ndc_matches(ndc10: str, ndc_number: str) -> bool:
    """Whether ``drugs.ndc_number`` (as typed: hyphenated 4-4-2/5-3-2/5-4-1/5-4-2, or
    plain 10 or 11 digits) is the NDC ``ndc10`` inside a GTIN."""
    text = ndc_number.strip()
    if not text:
        return False
    parts = text.split("-")
    if len(parts) == 3 and all(_DIGITS.match(p) for p in parts):
        if len("".join(parts)) == 10:
            return "".join(parts) == ndc10
        padded = parts[0].zfill(5) + parts[1].zfill(4) + parts[2].zfill(2)
        return padded in _ndc11_forms(ndc10)
    plain = text.replace("-", "").replace(" ", "")
    if not _DIGITS.match(plain):
        return False
    if len(plain) == 10:
        return plain == ndc10
    return len(plain) == 11 and plain in _ndc11_forms(ndc10)


def format_ndc(ndc10: str) -> str:
    """A 10-digit NDC as the 4-4-2 text most labels print (the segmentation is not
    knowable from the digits alone; the match tries every form)."""
    return f"{ndc10[:4]}-{ndc10[4:8]}-{ndc10[8:]}"
