from __future__ import annotations

import gc

import pytest


@pytest.fixture(autouse=True)
def _release_clients():  # type: ignore[no-untyped-def]
    """Collect Kafka clients kept alive by reference cycles, so the test's broker stops
    without waiting for open connections."""
    yield
    gc.collect()
