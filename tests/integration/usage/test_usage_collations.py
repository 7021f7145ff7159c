"""Issue 21: the visit's one read (``visit_rows``, which matches ``drug_sales.selector``
against the mapping id and joins OpenEMR's tables to the module's) on every site
collation OpenEMR installs with: ``usage show`` and a record by mapping id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.service import MaterialInput, record_usage
from aesthetic_inventory.usage.show import show_usage
from clinic import Clinic
from dbtools import uows

SITES = [
    ("utf8mb4", "utf8mb4_general_ci"),
    ("utf8mb3", "utf8mb3_general_ci"),
    ("latin1", "latin1_swedish_ci"),
]


@pytest.fixture(params=SITES, ids=[c for _, c in SITES])
def site_url(request: pytest.FixtureRequest, mysql_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with mysql_server.fixture_site("ucoll", *request.param) as url:
        yield url


def test_show_and_record_on_every_site_collation(site_url: str) -> None:
    engine = create_db_engine(site_url)
    try:
        migrate(engine)
        clinic = Clinic(engine)
        drug = clinic.add_drug("Botox Cosmetic 100U")
        clinic.add_lot(drug, 3, lot_number="Lot-é1")
        mapping = clinic.add_mapping("15828", drug)
        clinic.add_visit(1, 100)
        clinic.add_line(1, 100, "15828", 2)
        clinic.add_user("nurse1")
        reconcile_visit(UnitOfWork(engine), 1, 100, service_username="aesthetic-inventory")
        shown = show_usage(uows(engine), 1, 100, can_see_costs=True).as_dict()
        material = shown["materials"][0]  # type: ignore[index]
        assert (material["heldUnits"], material["lots"][0]["lotNumber"]) == (2, "Lot-é1")
        record_usage(uows(engine), 1, 100,
                     [MaterialInput("", "", "1", mapping_id=mapping, reason="OTHER")],
                     user="nurse1", service_username="aesthetic-inventory")
        after = show_usage(uows(engine), 1, 100, can_see_costs=True).as_dict()
        material = after["materials"][0]  # type: ignore[index]
        assert (material["actualQuantity"], material["heldUnits"]) == ("1", 1)
        assert material["currentStock"] == 2
    finally:
        engine.dispose()
