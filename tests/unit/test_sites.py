"""Where a multisite service finds its sites: sqlconf.php of an OpenEMR install, a
[sites] table, --site NAME=URL (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aesthetic_inventory.errors import ConfigurationError
from aesthetic_inventory.settings import load_settings
from aesthetic_inventory.sites import discover_sites, resolve_sites
from sqlalchemy.engine import make_url

SQLCONF = """<?php
//  OpenEMR
//  MySQL Config

global $disable_utf8_flag;
$disable_utf8_flag = false;

$host\t= 'db.local';
$port\t= '3307';
$login\t= 'openemr';
$pass\t= 'it\\'s s3cret@/:';
$dbase\t= "openemr_north";
$db_encoding\t= 'utf8mb4';

//////DO NOT TOUCH THIS///
$config = 1; /////////////
"""


def test_discovery_reads_sqlconf_as_openemr_writes_it(tmp_path: Path) -> None:
    (tmp_path / "sites" / "north").mkdir(parents=True)
    (tmp_path / "sites" / "north" / "sqlconf.php").write_text(SQLCONF)
    (tmp_path / "sites" / "new").mkdir()
    (tmp_path / "sites" / "new" / "sqlconf.php").write_text(
        SQLCONF.replace("$config = 1;", "$config = 0;"))  # installer not finished
    sites = discover_sites(tmp_path)
    assert [s.name for s in sites] == ["north"]
    url = make_url(sites[0].url)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "openemr", "it's s3cret@/:", "db.local", 3307, "openemr_north")
    with pytest.raises(ConfigurationError, match="not an OpenEMR install"):
        discover_sites(tmp_path / "sites")


def test_config_table_options_and_priority(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('channels = "crm"\n\n[sites]\nnorth = "mysql+pymysql://u@h/north"\n'
                      'south = "mysql+pymysql://u@h/south"\n')
    load_settings(config_path=config, environ={})  # the [sites] table is allowed
    every = resolve_sites((), all_sites=True, config_path=str(config))
    assert [(s.name, s.url) for s in every] == [
        ("north", "mysql+pymysql://u@h/north"), ("south", "mysql+pymysql://u@h/south")]
    chosen = resolve_sites(("south", "east=mysql+pymysql://u@h/east"), all_sites=False,
                           config_path=str(config))
    assert [s.name for s in chosen] == ["south", "east"]
    with pytest.raises(ConfigurationError, match=r"--site west: no such site \(known: north, "
                                                 r"south\)"):
        resolve_sites(("west",), all_sites=False, config_path=str(config))
    with pytest.raises(ConfigurationError, match="site name 'a b'"):
        resolve_sites(("a b=mysql+pymysql://u@h/x",), all_sites=False)
    with pytest.raises(ConfigurationError, match="no sites"):
        resolve_sites((), all_sites=True)
