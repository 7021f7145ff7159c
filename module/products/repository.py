"""Every SQL statement of the products package, on the caller's connection.

A product is OpenEMR's ``drugs`` row (written as ``interface/drugs/add_edit_drug.php``
writes it) plus the module's ``aesthetic_inventory_product_stock`` row (package and
counting unit) and its ``aesthetic_inventory_product_gtin`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..db import table_exists
from .domain import PackageSettings, Product, ProductInputError

PRODUCT_STOCK = "aesthetic_inventory_product_stock"
PRODUCT_GTIN = "aesthetic_inventory_product_gtin"

_PRODUCT_SELECT = (
    "SELECT d.drug_id, d.name, d.ndc_number, COALESCE(d.active, 0), d.aesthetic_category, "
    "d.unit_cost, d.supplier_name, d.reorder_point, d.max_level, "
    "COALESCE(ps.units_per_package, 1), COALESCE(ps.counting_unit, ''), "
    "COALESCE(ps.package_unit, ''), ps.beyond_use_hours, ps.diluent_ml, "
    "COALESCE(ps.single_patient, 0), ps.min_level, "
    "(SELECT COALESCE(SUM(di.on_hand), 0) FROM drug_inventory di "
    " WHERE di.drug_id = d.drug_id AND di.destroy_date IS NULL), "
    "d.form, d.size, d.unit, d.route "
    f"FROM drugs d LEFT JOIN {PRODUCT_STOCK} ps ON ps.drug_id = d.drug_id "
)


def is_duplicate_key(exc: IntegrityError) -> bool:
    """MariaDB's ER_DUP_ENTRY (1062)."""
    args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
    return bool(args) and args[0] == 1062


def _product(r: Sequence[object], gtins: tuple[str, ...]) -> Product:
    settings = PackageSettings(
        units_per_package=int(r[9]),  # type: ignore[call-overload]
        counting_unit=str(r[10]), package_unit=str(r[11]),
        beyond_use_hours=None if r[12] is None else int(r[12]),  # type: ignore[call-overload]
        diluent_ml=None if r[13] is None else Decimal(str(r[13])),
        single_patient=bool(r[14]),
        min_level=None if r[15] is None else int(r[15]),  # type: ignore[call-overload]
    )
    return Product(
        drug_id=int(r[0]), name=str(r[1]), ndc_number=str(r[2] or ""),  # type: ignore[call-overload]
        active=bool(r[3]), category=str(r[4] or ""), unit_cost=Decimal(str(r[5] or 0)),
        supplier=str(r[6] or ""), reorder_point=int(float(r[7] or 0)),  # type: ignore[arg-type]
        max_level=int(float(r[8] or 0)), settings=settings, gtins=gtins,  # type: ignore[arg-type]
        on_hand=int(r[16]),  # type: ignore[call-overload]
        form=str(r[17] or ""), size=str(r[18] or ""), unit=str(r[19] or ""),
        route=str(r[20] or ""),
    )


@dataclass(frozen=True)
class NewDrug:
    """The fields of OpenEMR's drug screen a new product is written with."""

    name: str
    ndc_number: str = ""
    form: str = ""
    size: str = ""
    unit: str = ""
    route: str = ""
    reorder_point: int = 0
    max_level: int = 0
    allow_multiple: bool = True
    allow_combining: bool = False
    active: bool = True


class ProductRepository:
    """SQL of the products commands inside one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- reading ---------------------------------------------------------------------

    def _gtins(self, drug_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(text(
            f"SELECT drug_id, gtin FROM {PRODUCT_GTIN} WHERE drug_id IN :ids "
            "ORDER BY drug_id, gtin").bindparams(bindparam("ids", expanding=True)),
            {"ids": ids})
        out: dict[int, list[str]] = {}
        for drug_id, gtin in rows:
            out.setdefault(int(drug_id), []).append(str(gtin))
        return {k: tuple(v) for k, v in out.items()}

    def products(self, *, include_inactive: bool = False,
                 category: str | None = None) -> list[Product]:
        """Every product (active ones unless asked), by name."""
        where, params = [], {}
        if not include_inactive:
            where.append("d.active = 1")
        if category is not None:
            where.append("d.aesthetic_category = :c")
            params["c"] = category
        sql = _PRODUCT_SELECT + (f"WHERE {' AND '.join(where)} " if where else "") + (
            "ORDER BY d.name, d.drug_id")
        rows = self.conn.execute(text(sql), params).all()
        gtins = self._gtins(int(r[0]) for r in rows)
        return [_product(r, gtins.get(int(r[0]), ())) for r in rows]

    def product(self, drug_id: int, *, lock: bool = False) -> Product | None:
        """One product; ``lock`` takes its ``drugs`` row FOR UPDATE (the stock commands'
        first lock, so a change never interleaves with a receipt of the product)."""
        row = self.conn.execute(text(
            _PRODUCT_SELECT + "WHERE d.drug_id = :d" + (" FOR UPDATE" if lock else "")),
            {"d": drug_id}).first()
        if row is None:
            return None
        return _product(row, self._gtins([drug_id]).get(drug_id, ()))

    def product_ids_named(self, name: str) -> list[int]:
        rows = self.conn.execute(
            text("SELECT drug_id FROM drugs WHERE name = :n ORDER BY drug_id"), {"n": name})
        return [int(r[0]) for r in rows]

    def product_of_gtin(self, gtin: str) -> int | None:
        row = self.conn.execute(
            text(f"SELECT drug_id FROM {PRODUCT_GTIN} WHERE gtin = :g"), {"g": gtin}).first()
        return None if row is None else int(row[0])

    def ndc_numbers(self) -> list[tuple[int, str, str]]:
        """(drug_id, name, ndc_number) of every product with an NDC."""
        rows = self.conn.execute(text(
            "SELECT drug_id, name, ndc_number FROM drugs WHERE ndc_number <> '' "
            "ORDER BY drug_id"))
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def has_lots(self, drug_id: int) -> bool:
        """Whether any ``drug_inventory`` row of the product exists (it has stock history)."""
        return bool(self.conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM drug_inventory WHERE drug_id = :d)"),
            {"d": drug_id}).scalar())

    def duplicate_exists(self, drug: NewDrug) -> bool:
        """add_edit_drug.php's duplicate check: same name, form, size, unit and route."""
        row = self.conn.execute(text(
            "SELECT COUNT(*) FROM drugs WHERE name = :n AND form = :f AND size = :s "
            "AND unit = :u AND route = :r"),
            {"n": drug.name, "f": drug.form, "s": drug.size, "u": drug.unit,
             "r": drug.route}).scalar_one()
        return int(row) > 0

    # -- writing ---------------------------------------------------------------------

    def insert_drug(self, drug: NewDrug) -> int:
        """The ``drugs`` row as add_edit_drug.php inserts a new drug (its column list;
        on_order 0, cyp_factor 0, related_code and drug_code empty), then, as its
        simplified form does, one ``drug_templates`` row whose selector is the name, so
        the product can be picked on the fee sheet."""
        result = self.conn.execute(text(
            "INSERT INTO drugs (name, ndc_number, drug_code, on_order, reorder_point, "
            "max_level, form, size, unit, route, cyp_factor, related_code, allow_multiple, "
            "allow_combining, active) VALUES (:name, :ndc, '', 0, :reorder, :max, :form, "
            ":size, :unit, :route, 0, '', :multiple, :combining, :active)"),
            {"name": drug.name, "ndc": drug.ndc_number, "reorder": drug.reorder_point,
             "max": drug.max_level, "form": drug.form, "size": drug.size, "unit": drug.unit,
             "route": drug.route, "multiple": int(drug.allow_multiple),
             "combining": int(drug.allow_combining), "active": int(drug.active)})
        drug_id = int(result.lastrowid or 0)
        if table_exists(self.conn, "drug_templates"):
            self.conn.execute(text(
                "INSERT INTO drug_templates (drug_id, selector, dosage, period, quantity, "
                "refills, taxrates) VALUES (:d, :s, '', 0, 1, 0, '')"),
                {"d": drug_id, "s": drug.name[:255]})
        return drug_id

    def update_drug(self, drug_id: int, *, category: str | None, unit_cost: Decimal | None,
                    supplier: str | None, reorder_point: int | None,
                    max_level: int | None) -> None:
        """The given ``drugs`` columns (OpenEMR's and the module's) of one product."""
        sets: list[str] = []
        params: dict[str, object] = {"d": drug_id}
        for column, key, value in (("aesthetic_category", "c", category),
                                   ("unit_cost", "uc", unit_cost),
                                   ("supplier_name", "s", supplier),
                                   ("reorder_point", "rp", reorder_point),
                                   ("max_level", "mx", max_level)):
            if value is not None:
                sets.append(f"{column} = :{key}")
                params[key] = value
        if sets:
            self.conn.execute(
                text(f"UPDATE drugs SET {', '.join(sets)} WHERE drug_id = :d"), params)

    def save_settings(self, drug_id: int, s: PackageSettings) -> None:
        self.conn.execute(text(
            f"INSERT INTO {PRODUCT_STOCK} (drug_id, units_per_package, counting_unit, "
            "package_unit, beyond_use_hours, diluent_ml, single_patient, min_level) VALUES "
            "(:d, :u, :cu, :pu, :b, :dl, :sp, :m) ON DUPLICATE KEY UPDATE "
            "units_per_package = VALUES(units_per_package), "
            "counting_unit = VALUES(counting_unit), package_unit = VALUES(package_unit), "
            "beyond_use_hours = VALUES(beyond_use_hours), diluent_ml = VALUES(diluent_ml), "
            "single_patient = VALUES(single_patient), min_level = VALUES(min_level)"),
            {"d": drug_id, "u": s.units_per_package, "cu": s.counting_unit,
             "pu": s.package_unit, "b": s.beyond_use_hours, "dl": s.diluent_ml,
             "sp": int(s.single_patient), "m": s.min_level})

    def gtin_owners(self, gtins: Iterable[str]) -> dict[str, int]:
        """GTIN -> drug_id for those already linked, locked (FOR UPDATE)."""
        wanted = sorted(set(gtins))
        if not wanted:
            return {}
        rows = self.conn.execute(text(
            f"SELECT gtin, drug_id FROM {PRODUCT_GTIN} WHERE gtin IN :g ORDER BY gtin "
            "FOR UPDATE").bindparams(bindparam("g", expanding=True)), {"g": wanted})
        return {str(r[0]): int(r[1]) for r in rows}

    def add_gtins(self, drug_id: int, gtins: Iterable[str]) -> int:
        """Link GTINs not linked yet. Under READ COMMITTED the owners' FOR UPDATE cannot
        lock a GTIN nobody has yet, so a concurrent link shows up here as a duplicate
        key: refused, never ignored."""
        rows = [{"g": g, "d": drug_id} for g in sorted(set(gtins))]
        if not rows:
            return 0
        try:
            self.conn.execute(text(
                f"INSERT INTO {PRODUCT_GTIN} (gtin, drug_id) VALUES (:g, :d)"), rows)
        except IntegrityError as exc:
            if not is_duplicate_key(exc):
                raise
            raise ProductInputError(
                f"GTIN {', '.join(str(r['g']) for r in rows)} was just linked to another "
                "product; run the command again to see which") from None
        return len(rows)

    def remove_gtins(self, drug_id: int, gtins: Iterable[str]) -> int:
        wanted = sorted(set(gtins))
        if not wanted:
            return 0
        result = self.conn.execute(text(
            f"DELETE FROM {PRODUCT_GTIN} WHERE drug_id = :d AND gtin IN :g").bindparams(
            bindparam("g", expanding=True)), {"d": drug_id, "g": wanted})
        return int(result.rowcount or 0)
