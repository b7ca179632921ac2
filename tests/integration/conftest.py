"""Clients of the session's server, one per role, closed after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Server
from tests.integration.clients import Recorder


@pytest.fixture
def informant(server: Server) -> Iterator[Recorder]:
    client = Recorder(server.url, "/informant", server.token("informant"))
    yield client
    client.close()


@pytest.fixture
def operator(server: Server) -> Iterator[Recorder]:
    client = Recorder(server.url, "/operator", server.token("operator"))
    yield client
    client.close()


@pytest.fixture
def leader(server: Server) -> Iterator[Recorder]:
    client = Recorder(server.url, "/team", server.token("leader"))
    yield client
    client.close()
