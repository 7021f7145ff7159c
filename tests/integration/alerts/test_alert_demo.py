"""The demo hook returns the digest and the CRM row."""

from __future__ import annotations

from aesthetic_inventory.alerts.demo import demo_alert_lines
from aesthetic_inventory.bootstrap import build_app
from aesthetic_inventory.install.service import load_sample
from clinic import Clinic


def test_demo_alert_lines(migrated_engine) -> None:
    load_sample(migrated_engine)
    Clinic(migrated_engine).add_drug("Thread Lift Kit", reorder_point=2)
    lines = demo_alert_lines(build_app(environ={}, engine=migrated_engine), migrated_engine)
    text = "\n".join(lines)
    assert "CRM notification_log row:" in text
    assert "smsgateway_info = AestheticInventory" in text
    assert "pc_startTime = 00:00:00" in text and "pc_endTime = 23:59:59" in text
    assert "Thread Lift Kit: usable on hand 0, reorder point 2" in text
