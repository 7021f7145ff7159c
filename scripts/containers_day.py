"""A day at a clinic with shared vials, for docs/containers.md: prints every command
and its real output, on a throwaway private server (the fixture schema).

    python scripts/containers_day.py

Botox in 100 U vials (two lots), a 20 U mapping, four patients treated two days ago
and two today; ``sync`` (as the service's waste job) writes off the first vial's rest;
a training uses 10 U without a patient; the containers, the vial's patients, the
digest (with a 24-hour container window) and the waste report.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from datetime import datetime, timedelta

from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.private_server import PrivateServer
from aesthetic_inventory.scratch import create_fixture_database
from sqlalchemy import text

SQL_SEED = """
INSERT INTO drugs (drug_id, name, allow_combining, dispensable, active, reorder_point)
  VALUES (1, 'Botox Cosmetic 100U', 1, 1, 1, 200);
INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, counting_unit,
  package_unit, beyond_use_hours, diluent_ml, average_cost)
  VALUES (1, 100, 'U', 'vial', 24, 2.5, 5.25);
INSERT INTO drug_inventory (inventory_id, drug_id, lot_number, expiration, on_hand,
  warehouse_id) VALUES (1, 1, 'C3021', '2027-09-30', 300, 'onsite'),
  (2, 1, 'C3355', '2028-02-28', 200, 'onsite');
INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, fee, trans_type)
  VALUES (1, 1, CURDATE() - INTERVAL 10 DAY, -300, -1575, 2),
  (1, 2, CURDATE() - INTERVAL 10 DAY, -200, -1050, 2);
INSERT INTO procedure_products (code_type, code, drug_id, quantity)
  VALUES ('CPT4', '64612', 1, 20);
INSERT INTO users (id, username, fname, lname, authorized) VALUES
  (7, 'drlee', 'Ana', 'Lee', 1);
"""


def visits(start: datetime) -> list[tuple[int, str, datetime]]:
    return [(101, "Maria Silva", start.replace(hour=9)),
            (102, "John Park", start.replace(hour=10)),
            (103, "Li Wei", start.replace(hour=11)),
            (104, "Sara Cohen", start.replace(hour=12))]


def seed_visit(conn, pid: int, name: str, when: datetime) -> None:  # type: ignore[no-untyped-def]
    first, last = name.split(" ", 1)
    conn.execute(text("INSERT INTO patient_data (pid, pubpid, fname, lname) "
                      "VALUES (:p, :p, :f, :l)"), {"p": pid, "f": first, "l": last})
    conn.execute(text("INSERT INTO form_encounter (date, pid, encounter, provider_id) "
                      "VALUES (:d, :p, :e, 7)"), {"d": when, "p": pid, "e": pid * 10})
    conn.execute(text(
        "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
        "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
        "(:d, 'CPT4', '64612', :p, 7, 7, 'Default', 1, :e, '', 0, 1, 1, 0)"),
        {"d": when, "p": pid, "e": pid * 10})


def run(url: str, *args: str, **settings: str) -> None:
    shown = " ".join(f"AESTHETIC_INVENTORY_{k.upper()}={v}" for k, v in settings.items())
    print(f"$ {shown + ' ' if shown else ''}aesthetic-inventory {shlex.join(args)}")
    env = dict(os.environ, AESTHETIC_INVENTORY_DATABASE_URL=url,
               **{f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in settings.items()})
    out = subprocess.run(["aesthetic-inventory", *args], env=env, capture_output=True,
                         text=True, check=False)
    sys.stdout.write(out.stdout + out.stderr)
    print()


def main() -> None:
    now = datetime.now().replace(second=0, microsecond=0)
    two_days_ago = now - timedelta(days=2)
    with PrivateServer() as server:
        url = str(create_fixture_database(server.url, "containers_day").render_as_string(
            hide_password=False))
        run(url, "migrate")
        engine = create_db_engine(url)
        with engine.begin() as conn:
            for statement in SQL_SEED.split(";"):
                if statement.strip():
                    conn.execute(text(statement))
            for pid, name, when in visits(two_days_ago):
                seed_visit(conn, pid, name, when)
        run(url, "sync")
        with engine.begin() as conn:
            seed_visit(conn, 105, "Emma Brown", now - timedelta(hours=2))
            seed_visit(conn, 106, "Omar Haddad", now - timedelta(hours=1))
        run(url, "sync")
        run(url, "use", "--product", "1", "--quantity", "10", "--reason",
            "injector training (RN Diaz)")
        run(url, "containers")
        run(url, "containers", "--all", "--json")
        run(url, "containers", "show", "1")
        run(url, "alerts", "run", "--dry-run", container_alert_hours="24")
        run(url, "report", "waste", "--from", (now - timedelta(days=7)).date().isoformat())
        run(url, "report", "waste", "--by", "provider")
        engine.dispose()


if __name__ == "__main__":
    main()
