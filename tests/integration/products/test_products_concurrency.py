"""Two clerks link the same GTINs to two products at the same moment: each GTIN ends
up on exactly one product, the other clerk gets the one-line refusal, nothing else
fails (the GTIN rows are locked before the insert; a deadlock re-runs the whole
transaction)."""

from __future__ import annotations

import threading

from aesthetic_inventory.products.domain import ProductChange
from aesthetic_inventory.products.repository import ProductRepository
from aesthetic_inventory.products.service import ProductInputError, set_product
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from biip.checksums import gs1_standard_check_digit
from clinic import Clinic


def _gtin(body: str) -> str:
    """A valid GTIN-14 from 13 digits (check digit appended)."""
    return body + str(gs1_standard_check_digit(body))


def test_concurrent_links_of_one_gtin_end_on_one_product(clinic: Clinic) -> None:
    products = [clinic.add_drug("Botox"), clinic.add_drug("Dysport")]
    gtins = [_gtin(f"0{4006381000 + n:012d}") for n in range(12)]
    outcomes: dict[int, list[str]] = {p: [] for p in products}
    failures: list[BaseException] = []

    def clerk(drug_id: int) -> None:
        for gtin in gtins:
            try:
                set_product(factory_of(clinic.engine), str(drug_id), ProductChange(gtins=(gtin,)))
                outcomes[drug_id].append(gtin)
            except ProductInputError as exc:
                assert ("is already linked to product" in str(exc)
                        or "was just linked to another product" in str(exc)), exc
            except BaseException as exc:  # anything else is a failure of the test
                failures.append(exc)

    threads = [threading.Thread(target=clerk, args=(p,)) for p in products]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    rows = dict(clinic.rows("SELECT gtin, drug_id FROM aesthetic_inventory_product_gtin"))
    assert sorted(rows) == sorted(gtins)
    for drug_id, linked in outcomes.items():
        assert all(rows[g] == drug_id for g in linked)
    assert sorted(outcomes[products[0]] + outcomes[products[1]]) == sorted(gtins)


def test_a_gtin_linked_meanwhile_is_refused_not_an_error(clinic: Clinic) -> None:
    first, second = clinic.add_drug("Botox"), clinic.add_drug("Dysport")
    gtin = _gtin("0040063810999")
    caught: list[BaseException] = []
    holder = UnitOfWork(clinic.engine)
    with holder:
        holder.get(ProductRepository).add_gtins(first, [gtin])  # not committed yet

        def other() -> None:
            try:
                with UnitOfWork(clinic.engine) as uow:
                    uow.get(ProductRepository).add_gtins(second, [gtin])  # waits for holder
                    uow.commit()
            except BaseException as exc:
                caught.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=1.0)  # it is waiting on the uncommitted row
        holder.commit()
    thread.join()
    assert len(caught) == 1 and isinstance(caught[0], ProductInputError)
    assert "was just linked to another product" in str(caught[0])
    assert clinic.rows("SELECT gtin, drug_id FROM aesthetic_inventory_product_gtin") == [
        (gtin, first)]
