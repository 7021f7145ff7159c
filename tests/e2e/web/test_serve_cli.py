"""``aesthetic-inventory serve`` as a process: it serves, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import Site
from webserver import WEB_SECRET, free_port

pytestmark = pytest.mark.e2e


def test_serve_answers_and_stops_gracefully_on_sigterm(site: Site) -> None:
    port = free_port()
    script = Path(sys.executable).with_name("aesthetic-inventory")
    env = dict(os.environ, AESTHETIC_INVENTORY_DATABASE_URL=site.url,
               AESTHETIC_INVENTORY_WEB_SECRET=WEB_SECRET)
    proc = subprocess.Popen([str(script), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        resp = httpx.get(f"http://127.0.0.1:{port}/api/v1/me")
        assert resp.status_code == 401 and resp.json()["status"] == 401
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "serving on http://127.0.0.1:" in out
    assert "Shutting down" in err and "web server stopped" in err
    assert "Traceback" not in err and WEB_SECRET not in out + err
