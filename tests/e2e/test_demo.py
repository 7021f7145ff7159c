"""``demo``: private server or scratch database, stock table, extension steps, cleanup."""

from __future__ import annotations

import re

import dbtools
import pymysql
import pytest
from aesthetic_inventory import demo as demo_service
from aesthetic_inventory.cli import main
from aesthetic_inventory.errors import AestheticInventoryError
from click.testing import CliRunner

pytestmark = pytest.mark.e2e


def _demo_databases(server: dbtools.ServerInfo) -> list[str]:
    with server.cursor() as cur:
        cur.execute("SHOW DATABASES LIKE 'aesthetic\\_inventory\\_demo\\_%'")
        return [r[0] for r in cur.fetchall()]


def test_demo_on_private_server_prints_stock_table() -> None:
    result = CliRunner().invoke(main, ["demo"], env={"AESTHETIC_INVENTORY_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "518_00_core.sql" in out
    for product in ("Botox Cosmetic 100U", "Hyaluronic Acid Filler 1mL", "Medical Grade Peel Kit"):
        assert product in out
    assert "BTX-24A117" in out and "420.00" in out and "Allergan Aesthetics" in out
    assert "private server stopped and removed" in out
    # The whole story: the fee sheet takes 2 Botox from the lot (6 -> 4, at or below
    # the reorder point 5), and the alert scan writes the CRM notification.
    assert "took 2 from lot BTX-24A117" in out
    assert re.search(r"Botox Cosmetic 100U\s+Neurotoxin\s+BTX-24A117\s+\S+\s+onsite\s+4\s", out)
    assert "sms_gateway_type = CRM" in out and "Botox Cosmetic 100U: usable on hand 4" in out
    port = int(out.split("127.0.0.1:")[1].split("/")[0])
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2)


def test_demo_with_url_uses_scratch_database_and_runs_extra_steps(
    mysql_server: dbtools.ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def step(ctx: demo_service.DemoContext) -> list[str]:
        seen.append(len(demo_service.stock_table(ctx.engine)))
        return ["extra step ran"]

    monkeypatch.setattr(
        demo_service, "EXTRA_STEPS", [demo_service.DemoStep("Extra", step, show_stock_after=True)]
    )
    before = _demo_databases(mysql_server)
    # the global option after the command (as users type it) works the same
    result = CliRunner().invoke(main, ["demo", "--database-url", mysql_server.url])
    assert result.exit_code == 0, result.output
    assert "== Extra ==" in result.stdout and "extra step ran" in result.stdout
    assert result.stdout.count("Medical Grade Peel Kit") == 2  # table shown again
    assert seen == [3]
    assert _demo_databases(mysql_server) == before


def test_demo_cleans_up_after_a_failing_step(
    mysql_server: dbtools.ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: demo_service.DemoContext) -> list[str]:
        raise AestheticInventoryError("step failed on purpose")

    monkeypatch.setattr(demo_service, "EXTRA_STEPS", [demo_service.DemoStep("Boom", boom)])
    before = _demo_databases(mysql_server)
    # the global option after the command (as users type it) works the same
    result = CliRunner().invoke(main, ["demo", "--database-url", mysql_server.url])
    assert result.exit_code == 1
    assert "step failed on purpose" in result.stderr
    assert _demo_databases(mysql_server) == before
