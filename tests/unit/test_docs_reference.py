"""The generated references in docs/reference/ match the code they describe."""

from __future__ import annotations

import pytest

from scripts import gen_reference


@pytest.mark.parametrize("name", sorted(gen_reference.PAGES))
def test_generated_reference_page_is_up_to_date(name: str) -> None:
    committed = (gen_reference.REFERENCE / name).read_text(encoding="utf-8")
    assert committed == gen_reference.PAGES[name](), (
        f"docs/reference/{name} is out of date: run python scripts/gen_reference.py"
    )


def test_every_command_and_setting_is_in_the_reference() -> None:
    cli = gen_reference.cli_page()
    for path, _command in gen_reference.walk_commands(gen_reference.cli_main, ["x"])[1:]:
        assert f"## `{' '.join(path[1:])}`" in cli
    settings = gen_reference.settings_page()
    for key in gen_reference.SETTINGS:
        assert f"| `{key}` |" in settings
