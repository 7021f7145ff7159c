"""Alerts in packages and units (issue 18 item 3): the HTML digest and the webhook body
of a scan for a product of 100 U vials (the text digest and the CLI: see
``tests/e2e/alerts/test_alerts_cli.py``)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.alerts.digest import build_template_environment
from aesthetic_inventory.alerts.service import _payload_with_key, scan
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from clinic import Clinic
from dbtools import make_app

NOW = datetime(2026, 12, 7, 9, 0)


def test_html_and_webhook_payload_in_vials_and_units(migrated_engine, migrated_db_url) -> None:
    clinic = Clinic(migrated_engine)
    botox = clinic.add_drug("Botox", reorder_point=300)
    clinic._exec("INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
                 "counting_unit, package_unit) VALUES (:d, 100, 'U', 'vial')", {"d": botox})
    clinic.add_lot(botox, 250, expiration=NOW.date() + timedelta(days=400))
    gauze = clinic.add_drug("Gauze", reorder_point=50)
    clinic.add_lot(gauze, 6, expiration=NOW.date() + timedelta(days=400))
    app = make_app(migrated_db_url)
    result = scan(factory_of(migrated_engine), load_alert_config(app.settings),
                  build_template_environment(),
                  dry_run=True, now=NOW)
    assert result.digest is not None
    html = result.digest.html
    assert "<td>2 vials + 50 U</td><td>3 vials</td>" in html
    assert "<td>6</td><td>50</td>" in html  # no package size: the numbers as before
    body = json.loads(_payload_with_key(result.digest, "k", "webhook"))
    items = {i["product"]: i for i in body["items"]}
    assert (items["Botox"]["on_hand"], items["Botox"]["on_hand_text"]) == (250, "2 vials + 50 U")
    assert items["Botox"]["reorder_point_text"] == "3 vials"
    assert (items["Gauze"]["on_hand"], items["Gauze"]["on_hand_text"]) == (6, "6")
    app.close()
