"""Real servers for the bad-input tests: one the REST fuzzer may write into freely, one for
the socket fuzzer and the size limits, where every row written is counted."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import Server, start_server

# `make test` runs a bounded fuzz; `make fuzz` raises this for a longer one.
FUZZ_EXAMPLES = int(os.environ.get("GRIDWATCH_FUZZ_EXAMPLES", "0") or 0)


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A `gridwatch serve` (gunicorn, embedded Redis, RQ worker) on SQLite."""
    srv = start_server(tmp_path_factory.mktemp("gw-fuzz-rest"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same, kept free of writes other than the ones a test makes on purpose."""
    srv = start_server(tmp_path_factory.mktemp("gw-fuzz-quiet"))
    yield srv
    srv.stop()
