"""`mappings import` draws a progress bar on a real terminal (a pty) and nothing when
stderr is a pipe or with --json."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from clinic import Clinic

CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))


def _run(url: str, args: list[str], *, tty: bool) -> tuple[int, str]:
    env = dict(os.environ, AESTHETIC_INVENTORY_DATABASE_URL=url)
    if not tty:
        done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        return done.returncode, done.stderr
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([CLI, *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=follower)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(leader)


def test_progress_only_on_a_terminal(migrated_db_url: str, clinic: Clinic,
                                     tmp_path: Path) -> None:
    drug = clinic.add_drug("Botox")
    path = tmp_path / "many.csv"
    path.write_text("code_type,code,product_id,product,quantity\n" + "".join(
        f"CPT4,C{n:03d},{drug},,1\n" for n in range(60)), encoding="utf-8")
    code, err = _run(migrated_db_url, ["mappings", "import", str(path), "--dry-run"], tty=True)
    assert code == 0 and "checking rows" in err
    code, err = _run(migrated_db_url, ["mappings", "import", str(path), "--dry-run"], tty=False)
    assert code == 0 and "checking rows" not in err
    code, err = _run(migrated_db_url, ["mappings", "import", str(path), "--dry-run", "--json"],
                     tty=True)
    assert code == 0 and "checking rows" not in err
    assert clinic.scalar("SELECT COUNT(*) FROM procedure_products") == 0
