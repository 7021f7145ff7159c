"""Render ``report all --format html`` for a database and screenshot it in headless
Chromium (how docs/img/report.png is made):

    python scripts/report_screenshot.py \
        mysql+pymysql://root@127.0.0.1:3306/openemr docs/img/report.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def main(url: str, png: str, *extra: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "report.html"
        command = str(Path(sys.executable).with_name("aesthetic-inventory"))
        subprocess.run([command, "--database-url", url,
                        "report", "all", "--format", "html", "--output", str(page_file),
                        *extra], check=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(page_file.as_uri())
            page.screenshot(path=png, full_page=False)
            browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
