"""The wheel ships the SQL, the fixture schema, the templates and the jobs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_wheel_contains_sql_templates_and_jobs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # no setuptools warnings (licence table, data folders missing from `packages`)
    warnings = [line for line in (result.stdout + result.stderr).splitlines()
                if "Warning" in line]
    assert warnings == []
    (wheel,) = tmp_path.glob("aesthetic_inventory-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "aesthetic_inventory/sql/518_00_core.sql",
        "aesthetic_inventory/sql/aesthetic_inventory_sample_data.sql",
        "aesthetic_inventory/sql/fixtures/openemr_fixture.sql",
        "aesthetic_inventory/migrations/runner.py",
        "aesthetic_inventory/cli/__init__.py",
    ):
        assert required in names
    for sql in (REPO / "sql").glob("*.sql"):
        assert f"aesthetic_inventory/sql/{sql.name}" in names
    for template in (REPO / "templates").iterdir():
        if template.suffix in (".j2", ".php"):
            assert f"aesthetic_inventory/templates/{template.name}" in names
    # every shipped file below templates/ too (review page, OpenEMR menu module)
    for path in (REPO / "templates").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(REPO / "templates").as_posix()
            assert f"aesthetic_inventory/templates/{relative}" in names, relative
    # every package of module/ is listed in pyproject.toml (a missing one installs a
    # wheel that fails on import)
    for source in (REPO / "module").rglob("*.py"):
        assert f"aesthetic_inventory/{source.relative_to(REPO / 'module').as_posix()}" in names
    assert any(n.startswith("aesthetic_inventory/jobs/") for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)
