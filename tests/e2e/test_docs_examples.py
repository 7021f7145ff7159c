"""Every example output in the docs is what the command prints today.

The scenario in ``scripts/docs_examples.py`` runs each marked example on a fresh
fixture database; a committed block that differs (beyond dates, times and durations)
fails here: run ``python scripts/docs_examples.py`` to refresh the pages.
"""

from __future__ import annotations

import dbtools
import pytest

from scripts import docs_examples

pytestmark = pytest.mark.e2e


def test_every_scenario_example_is_shown_once_and_every_marker_is_known() -> None:
    shown = [name for _page, name, _text in docs_examples.committed_blocks()]
    assert sorted(shown) == sorted(e.name for e in docs_examples.SCENARIO)


def test_docs_examples_are_what_the_commands_print(mysql_server: dbtools.ServerInfo) -> None:
    fresh = docs_examples.run_scenario(mysql_server.url)
    stale = [
        f"{page.name}: {name}"
        for page, name, text in docs_examples.committed_blocks()
        if docs_examples.normalized(text) != docs_examples.normalized(fresh[name])
    ]
    assert not stale, f"out of date (run python scripts/docs_examples.py): {stale}"
