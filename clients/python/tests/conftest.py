"""Fixtures: servers started for a module and stopped (killed if need be) after it."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from kvws_testing import KVWS_BIN, Server


def pytest_configure(config: pytest.Config) -> None:
    if not os.access(KVWS_BIN, os.X_OK):
        raise pytest.UsageError(f"no kvws binary at {KVWS_BIN}: run cargo build, or set KVWS_BIN")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()
