"""Fixtures of the consumption integration tests."""

from __future__ import annotations

import pytest
from consumption_clinic import Clinic
from sqlalchemy.engine import Engine


@pytest.fixture
def clinic(migrated_engine: Engine) -> Clinic:
    return Clinic(migrated_engine)
