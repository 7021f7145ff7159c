"""The alert job's claim protocol against the real background_services row."""

from __future__ import annotations

from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.jobs.alert_scan import run_alert_job
from clinic import Clinic
from dbtools import make_app
from sqlalchemy import text

NAME = "AestheticInventoryAlerts"


def set_row(engine, **values: object) -> None:
    assignments = ", ".join(f"{column} = {expr}" for column, expr in values.items())
    with engine.begin() as conn:  # test-only fixed expressions, no user values
        conn.execute(
            text(f"UPDATE background_services SET {assignments} WHERE name = :n"), {"n": NAME}
        )


def service_row(engine) -> tuple:
    return Clinic(engine).rows(
        "SELECT active, running, TIMESTAMPDIFF(MINUTE, NOW(), next_run) "
        "FROM background_services WHERE name = :n",
        {"n": NAME},
    )[0]


def job(url: str):
    app = make_app(url)
    return app, load_alert_config(app.settings)


def test_inactive_does_nothing(migrated_engine, migrated_db_url) -> None:
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    set_row(migrated_engine, active="0", next_run="NOW() - INTERVAL 1 DAY")
    app, config = job(migrated_db_url)
    assert run_alert_job(app, config, "test:1").status == "inactive"
    assert service_row(migrated_engine)[:2] == (0, 0)
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 0


def test_claims_runs_releases_and_pushes_next_run(migrated_engine, migrated_db_url) -> None:
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    set_row(migrated_engine, execute_interval="1440", next_run="NOW() - INTERVAL 1 MINUTE")
    app, config = job(migrated_db_url)
    outcome = run_alert_job(app, config, "test:1")
    assert outcome.status == "ran"
    active, running, minutes_ahead = service_row(migrated_engine)
    assert running == 0
    assert 1438 <= minutes_ahead <= 1440
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1
    assert (
        Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM aesthetic_inventory_service_claims")
        == 0
    )
    # not due any more: the next tick does nothing
    assert run_alert_job(app, config, "test:1").status == "not-due"
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1


BRIDGE = "'/library/aesthetic_inventory_alerts.php'"


def test_row_claimed_by_openemr_runner_is_left_alone(migrated_engine, migrated_db_url) -> None:
    # With the bridge installed OpenEMR's PHP runner runs the job itself: it just
    # claimed it (running = 1, next_run = NOW() + interval), so the service keeps out.
    set_row(
        migrated_engine,
        require_once=BRIDGE,
        running="1",
        next_run="NOW() + INTERVAL 1440 MINUTE",
    )
    app, config = job(migrated_db_url)
    assert run_alert_job(app, config, "test:1").status == "claimed-elsewhere"
    assert service_row(migrated_engine)[1] == 1


def test_recovers_stale_claim(migrated_engine, migrated_db_url) -> None:
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    set_row(migrated_engine, running="1", next_run="NOW() - INTERVAL 1 MINUTE")
    with migrated_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO aesthetic_inventory_service_claims (name, claimed_by, claimed_at) "
                "VALUES (:n, 'dead-host:4242', NOW() - INTERVAL 2 HOUR)"
            ),
            {"n": NAME},
        )
    app, config = job(migrated_db_url)
    assert config.claim_timeout_minutes == 60
    assert run_alert_job(app, config, "test:1").status == "ran"
    assert service_row(migrated_engine)[1] == 0
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1


def test_fresh_claim_of_another_process_is_not_stolen(migrated_engine, migrated_db_url) -> None:
    set_row(migrated_engine, running="1", next_run="NOW() - INTERVAL 1 MINUTE")
    with migrated_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO aesthetic_inventory_service_claims (name, claimed_by, claimed_at) "
                "VALUES (:n, 'other:1', NOW() - INTERVAL 5 MINUTE)"
            ),
            {"n": NAME},
        )
    app, config = job(migrated_db_url)
    assert run_alert_job(app, config, "test:1").status == "claimed-elsewhere"
    assert service_row(migrated_engine)[1] == 1


def test_stale_openemr_claim_without_record_recovered(migrated_engine, migrated_db_url) -> None:
    # a PHP run that died 3 hours ago with a 60-minute interval: claimed at next_run - 60
    set_row(
        migrated_engine,
        require_once=BRIDGE,
        running="1",
        execute_interval="60",
        next_run="NOW() - INTERVAL 120 MINUTE",
    )
    app, config = job(migrated_db_url)
    assert run_alert_job(app, config, "test:1").status == "ran"
    assert service_row(migrated_engine)[1] == 0


def test_bridgeless_openemr_claim_is_run_here_once(migrated_engine, migrated_db_url) -> None:
    # No bridge installed (require_once NULL, as migrate registers it): OpenEMR's
    # runner claimed the due row, found no function and left running = 1. The
    # service hands the claim back and runs the job itself, once for the interval.
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    assert (
        Clinic(migrated_engine).scalar(
            "SELECT COUNT(*) FROM background_services WHERE name = :n AND require_once IS NULL",
            {"n": NAME},
        )
        == 1
    )
    set_row(migrated_engine, running="1", next_run="NOW() + INTERVAL 1440 MINUTE")
    app, config = job(migrated_db_url)
    assert run_alert_job(app, config, "test:1").status == "ran"
    active, running, minutes_ahead = service_row(migrated_engine)
    assert running == 0 and 1438 <= minutes_ahead <= 1440
    assert run_alert_job(app, config, "test:1").status == "not-due"
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1


def test_failed_scan_still_releases_the_claim(migrated_engine, migrated_db_url) -> None:
    import pytest
    from aesthetic_inventory.errors import AestheticInventoryError

    set_row(migrated_engine, next_run="NOW() - INTERVAL 1 MINUTE")
    with migrated_engine.begin() as conn:
        conn.execute(text("DROP TABLE aesthetic_inventory_alert_state"))
    app, config = job(migrated_db_url)
    with pytest.raises(AestheticInventoryError, match="migrate"):
        run_alert_job(app, config, "test:1")
    assert service_row(migrated_engine)[1] == 0
    assert (
        Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM aesthetic_inventory_service_claims")
        == 0
    )


def test_shutdown_releases_only_our_claim(migrated_engine, migrated_db_url) -> None:
    from aesthetic_inventory.alerts.background import BackgroundServiceRepository
    from aesthetic_inventory.scheduler import release_claim

    set_row(migrated_engine, next_run="NOW() - INTERVAL 1 MINUTE")
    with migrated_engine.begin() as conn:
        assert BackgroundServiceRepository(conn).claim(1440, "host:1")
    app, _config = job(migrated_db_url)
    assert release_claim(app, "host:2") is False
    assert service_row(migrated_engine)[1] == 1
    assert release_claim(app, "host:1") is True
    assert service_row(migrated_engine)[1] == 0
