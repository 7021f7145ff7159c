"""The alert digest lists open containers reaching beyond-use within the next hours
with units left; the alert resolves when the container is closed."""

from __future__ import annotations

from datetime import datetime, timedelta

from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.alerts.digest import build_template_environment
from aesthetic_inventory.alerts.service import scan
from aesthetic_inventory.consumption.containers import service
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from clinic import Clinic
from dbtools import make_app
from sqlalchemy.engine import Engine

NOW = datetime.now().replace(microsecond=0)


def test_digest_lists_containers_near_beyond_use_then_resolves(
        clinic: Clinic, migrated_engine: Engine, migrated_db_url: str) -> None:
    soon, later = clinic.add_drug("Botox"), clinic.add_drug("Dysport")
    for drug, hours in ((soon, 3), (later, 24)):
        clinic.execute(
            "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
            "counting_unit, beyond_use_hours) VALUES (:d, 100, 'U', :h)", {"d": drug, "h": hours})
        clinic.add_lot(drug, 100, lot_number=f"L{drug}")
        service.use(lambda: UnitOfWork(migrated_engine), drug, 60, "demo", user="nurse",
                    now=NOW)
    app = make_app(migrated_db_url, container_alert_hours="4")
    config, env = load_alert_config(app.settings), build_template_environment()
    first = scan(factory_of(migrated_engine), config, env, now=NOW)
    boxes = [i for i in first.notified if i.kind == "container"]
    assert [(i.product, i.on_hand) for i in boxes] == [("Botox", 40)]  # Dysport: 24 h away
    assert first.digest is not None
    assert "Open containers reaching beyond-use" in first.digest.text
    assert "40 U left" in first.digest.text and "3.0 h left" in first.digest.text
    (cid,) = [r[0] for r in clinic.rows("SELECT id FROM aesthetic_inventory_container "
                                        "WHERE drug_id = :d", {"d": soon})]
    service.close(lambda: UnitOfWork(migrated_engine), cid, reason="used-up", waste=0,
                  user="nurse", now=NOW)
    second = scan(factory_of(migrated_engine), config, env, now=NOW + timedelta(minutes=5))
    assert not [i for i in second.notified if i.kind == "container"]
    assert clinic.rows("SELECT item_key, state FROM aesthetic_inventory_alert_state "
                       "WHERE kind = 'container'") == [(str(cid), "resolved")]
    app.close()
