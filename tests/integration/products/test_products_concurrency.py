"""Two clerks link the same GTINs to two products at the same moment: each GTIN ends
up on exactly one product, the other clerk gets the one-line refusal, nothing else
fails (the GTIN rows are locked before the insert; a deadlock re-runs the whole
transaction)."""

from __future__ import annotations

import threading

from aesthetic_inventory.products.domain import ProductChange
from aesthetic_inventory.products.service import ProductInputError, set_product
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
                set_product(clinic.engine, str(drug_id), ProductChange(gtins=(gtin,)))
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
