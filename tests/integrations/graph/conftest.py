"""The Graph stand-in, started per test, and settings that point at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import GraphSettings
from tests.integrations.graph.standin import (
    CLIENT_ID,
    TENANT,
    GraphStandIn,
    load_mailboxes,
)

SECRET_ENV = "CCBOT_TEST_GRAPH_SECRET"
SECRET = "stand-in-client-secret"


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[GraphStandIn]:
    server = GraphStandIn(load_mailboxes(), SECRET, tmp=tmp_path)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def graph_settings(
    standin: GraphStandIn, monkeypatch: pytest.MonkeyPatch
) -> GraphSettings:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return GraphSettings(
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV,
        graph_url=standin.graph_url,
        authority_host=standin.url,
        ca_bundle=standin.ca_path,
    )
