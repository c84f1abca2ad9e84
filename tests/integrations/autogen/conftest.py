"""Fixtures of the autogen-agentchat integration tests: autolog on, model clients that replay canned results
(no network) or talk to the recorded model server, and the cassette of the running test.

Tests that talk HTTP replay ``cassettes/autogen/<test name>.yaml``; ``scripts/record_cassettes.py autogen``
records them anew from a real model (the Python server: chat, streams and tool calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

from cassettes import FAKE_API_KEY, MODEL_BASE_URL, MODEL_NAME, use_cassette

pytest.importorskip("autogen_agentchat", reason="the AutoGen integration tests need autogen-agentchat")
pytest.importorskip("autogen_ext.models.openai", reason="the AutoGen tests need autogen-ext[openai]")

from autogen_helpers import MODEL_INFO, drop_legacy_function_call


@pytest.fixture
def autolog() -> Iterator[None]:
    """``spanlog.autogen.autolog()`` for the test (the root conftest disables every integration after it)."""
    spanlog.autogen.autolog()
    yield


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Replays (or, when recording, records) ``cassettes/autogen/<test name>.yaml``."""
    with use_cassette("autogen", request.node.name) as recorded:
        yield recorded


@pytest.fixture
def model_client(autolog: None, cassette: Any) -> Any:
    """An OpenAIChatCompletionClient on the recorded model server: greedy, short replies, no retries."""
    import httpx
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient(
        model=MODEL_NAME,
        base_url=MODEL_BASE_URL,
        api_key=FAKE_API_KEY,
        max_retries=0,
        temperature=0,
        seed=7,
        max_tokens=16,
        model_info=MODEL_INFO,
        http_client=httpx.AsyncClient(event_hooks={"response": [drop_legacy_function_call]}),
    )
