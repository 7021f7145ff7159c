"""The OpenEMR menu module: install command, PHP syntax, PHP-minted launch tokens."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.web.tokens import (
    InvalidTokenError,
    mint_launch_token,
    verify_launch_token,
)
from click.testing import CliRunner
from conftest import Site, confirm_launch
from webserver import LAUNCH_SECRET, LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]
MODULE = "oe-module-aesthetic-inventory"


def _openemr_tree(tmp_path: Path) -> Path:
    root = tmp_path / "openemr"
    (root / "interface" / "modules" / "custom_modules").mkdir(parents=True)
    return root


def _install(root: Path, *extra: str, secret: str | None = LAUNCH_SECRET):  # type: ignore[no-untyped-def]
    env = {"AESTHETIC_INVENTORY_OPENEMR_LAUNCH_SECRET": secret} if secret else {}
    return CliRunner().invoke(
        main, ["--database-url", "mysql+pymysql://u:p@127.0.0.1/x", "install-openemr-module",
               "--openemr-dir", str(root), *extra], env=env)


def _php_mint(module_dir: Path, secret: str, username: str, now: int) -> str:
    code = (f"require '{module_dir / 'src' / 'LaunchToken.php'}';"
            "echo aesthetic_inventory_mint_token($argv[1], $argv[2], (int)$argv[3]);")
    return subprocess.run(["php", "-r", code, secret, username, str(now)], check=True,
                          capture_output=True, text=True).stdout


def test_install_copies_module_with_private_config(tmp_path: Path) -> None:
    root = _openemr_tree(tmp_path)
    result = _install(root, "--url", "https://clinic.example/aesthetic-inventory")
    assert result.exit_code == 0, result.output
    target = root / "interface" / "modules" / "custom_modules" / MODULE
    assert (target / "info.txt").read_text().strip() == "Aesthetic Inventory"
    config = target / "config.php"
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    assert LAUNCH_SECRET not in result.output
    for php in ("openemr.bootstrap.php", "public/launch.php", "src/LaunchToken.php",
                "config.php"):
        lint = subprocess.run(["php", "-l", str(target / php)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    loaded = subprocess.run(["php", "-r", f"var_export(require '{config}');"],
                            capture_output=True, text=True, check=True).stdout
    assert "https://clinic.example/aesthetic-inventory" in loaded
    again = _install(root)
    assert again.exit_code == 1 and "--force" in again.output


def test_install_refuses_without_secret_or_openemr_tree(tmp_path: Path) -> None:
    no_secret = _install(_openemr_tree(tmp_path), secret=None)
    assert no_secret.exit_code == 1 and "openemr_launch_secret" in no_secret.output
    not_openemr = _install(tmp_path / "elsewhere")
    assert not_openemr.exit_code == 1 and "not an OpenEMR directory" in not_openemr.output


def test_php_and_python_agree_on_launch_tokens(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[3] / "templates" / "openemr_module" / MODULE
    now = int(time.time())
    nonce = "00112233445566778899aabbccddeeff"
    code = (f"require '{source / 'src' / 'LaunchToken.php'}';"
            "echo aesthetic_inventory_mint_token($argv[1], 'nurse', 1000000, 60, $argv[2]);")
    php = subprocess.run(["php", "-r", code, LAUNCH_SECRET, nonce], check=True,
                         capture_output=True, text=True).stdout
    assert php == mint_launch_token(LAUNCH_SECRET, "nurse", now=1_000_000, nonce=nonce)
    token = _php_mint(source, LAUNCH_SECRET, "nurse ñ", now)
    assert verify_launch_token(LAUNCH_SECRET, token, max_age=60).username == "nurse ñ"
    with pytest.raises(InvalidTokenError):
        verify_launch_token("other-secret", token, max_age=60)
    old = _php_mint(source, LAUNCH_SECRET, "nurse", now - 120)
    with pytest.raises(InvalidTokenError):
        verify_launch_token(LAUNCH_SECRET, old, max_age=60)
    body, mac = token.split(".")
    with pytest.raises(InvalidTokenError):
        verify_launch_token(LAUNCH_SECRET, body + "x." + mac, max_age=60)


def test_menu_listener_adds_item_under_modules(tmp_path: Path) -> None:
    """Run the bootstrap with a stand-in dispatcher and MenuEvent (OpenEMR's API shape)."""
    source = Path(__file__).resolve().parents[3] / "templates" / "openemr_module" / MODULE
    harness = tmp_path / "harness.php"
    harness.write_text(
        "<?php\nnamespace OpenEMR\\Menu { class MenuEvent { const MENU_UPDATE = 'menu.update';"
        " public function __construct(public array $menu) {}"
        " public function getMenu() { return $this->menu; }"
        " public function setMenu($m) { $this->menu = $m; } } }\n"
        "namespace { class Dispatcher { public $l = [];"
        " public function addListener($n, $c) { $this->l[$n] = $c; } }\n"
        "$eventDispatcher = new Dispatcher();\n"
        f"require '{source / 'openemr.bootstrap.php'}';\n"
        "$mod = new \\stdClass(); $mod->menu_id = 'modimg'; $mod->children = [];\n"
        "$event = ($eventDispatcher->l['menu.update'])(new OpenEMR\\Menu\\MenuEvent([$mod]));\n"
        "$item = $event->getMenu()[0]->children[0];\n"
        "echo $item->label, '|', $item->url; }\n"
    )
    out = subprocess.run(["php", str(harness)], capture_output=True, text=True, check=True).stdout
    assert out == ("Aesthetic Inventory|/interface/modules/custom_modules/"
                   f"{MODULE}/public/launch.php")


def test_arriving_from_openemr_menu_signs_the_nurse_in(site: Site, server: LiveServer) -> None:
    source = Path(__file__).resolve().parents[3] / "templates" / "openemr_module" / MODULE
    token = _php_mint(source, LAUNCH_SECRET, "nurse", int(time.time()))
    with server.client() as http:
        resp = confirm_launch(http, token)
        assert resp.status_code == 303
        cookie = resp.cookies["ai_session"]
        assert http.get("/api/v1/me", cookies={"ai_session": cookie}).json()["username"] == "nurse"
        stale = _php_mint(source, LAUNCH_SECRET, "nurse", int(time.time()) - 300)
        refused = confirm_launch(http, stale)
        assert refused.status_code == 303 and refused.headers["location"].endswith("/login")
        assert "ai_session" not in refused.cookies
        replayed = confirm_launch(http, token)  # the PHP token's nonce was spent
        assert replayed.status_code == 303 and replayed.headers["location"].endswith("/login")
        assert "ai_session" not in replayed.cookies
        # two PHP tokens minted in the same second differ (each carries its own nonce)
        assert _php_mint(source, LAUNCH_SECRET, "nurse", 1) != \
            _php_mint(source, LAUNCH_SECRET, "nurse", 1)
