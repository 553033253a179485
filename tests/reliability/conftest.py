"""Fixtures of the reliability suite: the scale, and figure recording."""

from __future__ import annotations

import pytest

from tests.reliability.harness import Scale, current_scale


@pytest.fixture(scope="session")
def scale() -> Scale:
    """How hard the scenarios push (``CRONOS_RELIABILITY_SCALE=ci|full``, default ci)."""
    return current_scale()
