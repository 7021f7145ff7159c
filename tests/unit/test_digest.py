"""The digest templates: grouped, all columns, HTML autoescaped."""

from __future__ import annotations

import json
from datetime import date, datetime

from aesthetic_inventory.alerts.digest import build_template_environment, render_digest
from aesthetic_inventory.alerts.rules import EXPIRING, LOW_STOCK, AlertItem


def test_digest_text_html_and_payload() -> None:
    items = [
        AlertItem(LOW_STOCK, "1", 1, "Botox <b>100U</b>", on_hand=2, reorder_point=5),
        AlertItem(
            EXPIRING,
            "7",
            2,
            "Filler",
            inventory_id=7,
            lot_number="F-1",
            warehouse="On Site",
            on_hand=3,
            reorder_point=1,
            expiration=date(2026, 3, 20),
            days_left=10,
        ),
    ]
    digest = render_digest(
        build_template_environment(), items, generated_at=datetime(2026, 3, 10, 8, 0)
    )
    assert "== Low stock (at or below reorder point) (1) ==" in digest.text
    assert "Botox <b>100U</b>: usable on hand 2, reorder point 5" in digest.text
    assert (
        "Filler, lot F-1, warehouse On Site: on hand 3, reorder point 1, "
        "expires 2026-03-20 (10 day(s) left)"
    ) in digest.text
    assert "Botox &lt;b&gt;100U&lt;/b&gt;" in digest.html
    assert "<b>100U</b>" not in digest.html
    payload = json.loads(digest.payload_json)
    assert payload["counts"] == {"low_stock": 1, "expiring": 1}
    assert digest.text.index("Low stock") < digest.text.index("expiring soon")


def test_digest_one_line_per_item_and_expired_wording() -> None:
    items = [
        AlertItem(
            "expired",
            str(n),
            1,
            f"Lot product {n}",
            inventory_id=n,
            lot_number=f"L{n}",
            warehouse="On Site",
            on_hand=n,
            reorder_point=0,
            expiration=date(2026, 3, 7),
            days_left=-3,
        )
        for n in (1, 2)
    ]
    digest = render_digest(
        build_template_environment(), items, generated_at=datetime(2026, 3, 10, 8, 0)
    )
    lines = digest.text.splitlines()
    section = lines.index("== Expired lots still on hand (2) ==")
    assert lines[section + 1].startswith("- Lot product 1, lot L1")
    assert lines[section + 2].startswith("- Lot product 2, lot L2")
    assert lines[section + 1].endswith("(expired 3 day(s) ago)")


def test_digest_caps_items_per_kind_but_payload_keeps_all() -> None:
    items = [
        AlertItem(LOW_STOCK, str(n), n, f"Product {n:03d}", on_hand=0.5, reorder_point=1)
        for n in range(120)
    ]
    digest = render_digest(
        build_template_environment(),
        items,
        generated_at=datetime(2026, 3, 10, 8, 0),
        max_per_kind=50,
    )
    assert "== Low stock (at or below reorder point) (120) ==" in digest.text
    assert digest.text.count("\n- Product") == 50
    assert "... and 70 more" in digest.text and "... and 70 more" in digest.html
    assert len(digest.payload["items"]) == 120


def test_crm_text_fits_the_text_column() -> None:
    from aesthetic_inventory.alerts.channels import TEXT_COLUMN_BYTES, fit_bytes

    assert fit_bytes("short") == "short"
    long = "é" * 40000  # 80000 bytes
    cut = fit_bytes(long)
    assert len(cut.encode()) <= TEXT_COLUMN_BYTES and cut.endswith("every item]\n")
