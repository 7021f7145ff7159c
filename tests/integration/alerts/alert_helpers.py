"""Helpers shared by the alert integration tests: stock rows and an App."""

from __future__ import annotations

from datetime import date

from aesthetic_inventory.bootstrap import App, build_app
from sqlalchemy import text
from sqlalchemy.engine import Engine


def make_app(url: str, **env: str) -> App:
    environ = {f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in env.items()}
    return build_app(database_url=url, environ=environ)


def add_drug(engine: Engine, name: str, reorder_point: float, *, active: int = 1) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text("INSERT INTO drugs (name, reorder_point, active) VALUES (:n, :r, :a)"),
                {"n": name, "r": reorder_point, "a": active},
            ).lastrowid
        )


def add_lot(
    engine: Engine,
    drug_id: int,
    lot: str,
    on_hand: int,
    expiration: date | None,
    *,
    destroyed: date | None = None,
) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                    "warehouse_id, destroy_date) VALUES (:d, :l, :e, :o, 'onsite', :x)"
                ),
                {"d": drug_id, "l": lot, "e": expiration, "o": on_hand, "x": destroyed},
            ).lastrowid
        )


def scalar(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def set_global(engine: Engine, name: str, value: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("REPLACE INTO globals (gl_name, gl_index, gl_value) VALUES (:n, 0, :v)"),
            {"n": name, "v": value},
        )
