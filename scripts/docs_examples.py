"""Example outputs in the docs come from real runs of the command line.

A page marks an example with an HTML comment before a fenced block::

    <!-- example: uninstall-plan -->
    ```console
    $ aesthetic-inventory uninstall
    ...
    ```

``SCENARIO`` runs every example in order on one fresh fixture database (the small
OpenEMR-compatible schema) through the installed ``aesthetic-inventory`` command, so
each output is what a user sees. This script rewrites the marked blocks;
``tests/e2e/test_docs_examples.py`` runs the same scenario and fails when a committed
block differs (dates, times and durations are compared as placeholders, since they
change from day to day).

    python scripts/docs_examples.py                 # private throwaway server
    python scripts/docs_examples.py --server URL    # a server you name (root-like account)
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aesthetic_inventory.db import connect, create_db_engine
from aesthetic_inventory.private_server import PrivateServer
from aesthetic_inventory.scratch import create_fixture_database, drop_database
from sqlalchemy import text
from sqlalchemy.engine import URL

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHOWN_URL = "mysql+pymysql://aesthetic:***@db-host:3306/openemr"
MARK = re.compile(r"<!-- example: ([a-z0-9-]+) -->\n```console\n(.*?)```\n", re.S)


@dataclass(frozen=True)
class Example:
    """One marked block: the commands it shows (each a list of arguments)."""

    name: str
    commands: tuple[tuple[str, ...], ...]


SQL = "sql"  # a step ("sql", STATEMENT) runs STATEMENT as the mysql client would

SCENARIO: tuple[Example, ...] = (
    Example("migrate-dry-run", (("migrate", "--dry-run"),)),
    Example("migrate", (("migrate",),)),
    Example("migrate-again", (("migrate",),)),
    Example("status", (("status",),)),
    Example("load-sample", (("load-sample",),)),
    Example("doctor", (("doctor",),)),
    Example("doctor-broken", (
        (SQL, "DROP TABLE aesthetic_inventory_change_queue"),
        (SQL, "UPDATE drugs SET active = 0 WHERE name LIKE 'Medical%'"),
        ("doctor",),
        ("migrate",),
        (SQL, "UPDATE drugs SET active = 1 WHERE name LIKE 'Medical%'"),
    )),
    Example("stock", (("stock",), ("stock", "--product", "Botox Cosmetic 100U", "--lots"))),
    Example("mappings", (
        ("mappings", "add", "--code-type", "CPT4", "--code", "15828", "--product", "1",
         "--quantity", "-1"),
        ("mappings", "add", "--code-type", "CPT4", "--code", "15828", "--product", "1",
         "--quantity", "2"),
        ("mappings", "add", "--code-type", "XX", "--code", "15828", "--product", "1",
         "--quantity", "nan"),
        ("mappings", "add", "--code-type", "CPT4", "--code", "99999", "--product",
         "Botox Cosmetic 100U", "--quantity", "1.5"),
        ("mappings", "set", "--id", "4", "--quantity", "2"),
        ("mappings", "remove", "--code-type", "CPT4", "--code", "99999", "--product", "1"),
        ("mappings", "list"),
    )),
    Example("receive", (
        ("receive", "--product", "Botox Cosmetic 100U", "--lot", "BTX-2410B", "--expires",
         "2029-12-31", "--quantity", "10", "--unit-cost", "185", "--supplier",
         "Allergan Aesthetics", "--invoice", "INV-2291"),
        ("receive", "--file", "docs/examples/delivery.csv", "--dry-run"),
        ("receive", "--file", "docs/examples/delivery.csv", "--invoice", "DN-5521"),
        ("receive", "--product", "Botox Cosmetic 100U", "--lot", "OLD-1", "--expires",
         "2025-01-31", "--quantity", "5", "--unit-cost", "180"),
    )),
    Example("stock-moves", (
        (SQL, "INSERT INTO list_options (list_id, option_id, title, seq) "
              "VALUES ('warehouse', 'annex', 'Annex', 10)"),
        ("transfer", "--lot", "4", "--to", "annex", "--quantity", "4"),
        ("adjust", "--lot", "2", "--by", "-1", "--reason", "DAMAGED", "--notes",
         "syringe cracked"),
        ("adjust", "--lot", "2", "--by", "-50", "--reason", "WASTAGE"),
        ("count", "--file", "docs/examples/count.csv"),
        ("destroy", "--lot", "3", "--method", "pharmaceutical waste bin", "--witness",
         "RN Lee"),
    )),
    Example("ledger", (("ledger",), ("valuation",), ("valuation", "--by", "warehouse"))),
    Example("revoke-sessions", (("revoke-sessions", "--user", "admin"),)),
    Example("uninstall", (("uninstall",), ("uninstall", "--yes"), ("uninstall",))),
)


def _command() -> list[str]:
    script = Path(sys.executable).with_name("aesthetic-inventory")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aesthetic_inventory"]


def _shown(text: str, url: URL) -> str:
    """The output as the docs show it: the scratch database's URL as a site's URL."""
    for form in (url.render_as_string(hide_password=False),
                 url.render_as_string(hide_password=True)):
        text = text.replace(form, SHOWN_URL)
    return text


def run_example(example: Example, url: URL) -> str:
    """Run one example's commands against ``url``; the block text they make."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    env["AESTHETIC_INVENTORY_DATABASE_URL"] = url.render_as_string(hide_password=False)
    env["COLUMNS"] = "100"
    out = []
    for args in example.commands:
        if args[0] == SQL:
            _run_sql(url, args[1])
            out.append(f'$ mysql openemr -e "{args[1]}"\n')
            continue
        done = subprocess.run([*_command(), *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        out.append("$ aesthetic-inventory " + shlex.join(args) + "\n")
        out.append(_shown(done.stdout + done.stderr, url))
        if done.returncode:
            out.append(f"$ echo $?\n{done.returncode}\n")
    return "".join(out)


def _run_sql(url: URL, statement: str) -> None:
    engine = create_db_engine(url)
    try:
        with connect(engine) as conn:
            conn.execute(text(statement))
            conn.commit()
    finally:
        engine.dispose()


def run_scenario(server_url: str) -> dict[str, str]:
    """Every example of ``SCENARIO``, in order, on one new fixture database."""
    url = create_fixture_database(server_url, "aidocs")
    try:
        return {example.name: run_example(example, url) for example in SCENARIO}
    finally:
        drop_database(url)


def committed_blocks() -> Iterator[tuple[Path, str, str]]:
    """(page, example name, block text) of every marked block in the docs."""
    for page in PAGES:
        for match in MARK.finditer(page.read_text(encoding="utf-8")):
            yield page, match.group(1), match.group(2)


_VOLATILE = (
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<date>"),
    (re.compile(r"\d{2}:\d{2}(:\d{2}([.,]\d+)?)?"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)? ?(ms|s)\b"), "<duration>"),
    (re.compile(r"\(-?\d+ day\(s\) (left|ago)\)"), "(<days>)"),
    (re.compile(r"-?\d+ day\(s\)"), "<days>"),
)


def normalized(text: str) -> str:
    """``text`` with what changes from day to day replaced by placeholders."""
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def rewrite(outputs: dict[str, str]) -> list[str]:
    """Write ``outputs`` into the marked blocks; the names of the blocks changed."""
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in outputs:
            raise SystemExit(f"unknown example {name!r} in the docs")
        if outputs[name] != match.group(2):
            changed.append(name)
        return f"<!-- example: {name} -->\n```console\n{outputs[name]}```\n"

    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        new = MARK.sub(replace, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    return changed


def main(argv: list[str]) -> int:
    if argv[:1] == ["--server"] and len(argv) == 2:
        print("changed:", ", ".join(rewrite(run_scenario(argv[1]))) or "nothing")
        return 0
    with PrivateServer() as server:
        print("changed:", ", ".join(rewrite(run_scenario(server.url))) or "nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
