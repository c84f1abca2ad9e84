"""Fixtures of the AG2 integration tests: autolog on, an ``llm_config`` on the recorded model server, and
the cassette of the running test.

Tests that talk HTTP replay ``cassettes/ag2/<test name>.yaml``; ``scripts/record_cassettes.py ag2`` records
them anew from a real model (the Python server). The HTTP client of ``llm_config`` names the tool on a
chat's first tool turn and drops a legacy field of the server's tool-call replies (see ``ag2_helpers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

from cassettes import FAKE_API_KEY, MODEL_BASE_URL, MODEL_NAME, use_cassette

pytest.importorskip("autogen.agentchat", reason="the AG2 integration tests need ag2 (module autogen)")

from ag2_helpers import SharedHttpClient, drop_legacy_function_call, name_the_tool


@pytest.fixture
def autolog() -> Iterator[None]:
    """``spanlog.ag2.autolog()`` for the test (the root conftest disables every integration after it)."""
    spanlog.ag2.autolog()
    yield


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Replays (or, when recording, records) ``cassettes/ag2/<test name>.yaml``."""
    with use_cassette("ag2", request.node.name) as recorded:
        yield recorded


@pytest.fixture
def llm_config(autolog: None, cassette: Any) -> dict[str, Any]:
    """The model server, greedy and short, with AG2's disk cache off (``cache_seed=None``) and no retries."""
    http_client = SharedHttpClient(
        event_hooks={"request": [name_the_tool], "response": [drop_legacy_function_call]}
    )
    return {
        "config_list": [
            {
                "model": MODEL_NAME,
                "base_url": MODEL_BASE_URL,
                "api_key": FAKE_API_KEY,
                "max_retries": 0,
                "http_client": http_client,
            }
        ],
        "cache_seed": None,
        "temperature": 0,
        "seed": 7,
        "max_tokens": 16,
    }
