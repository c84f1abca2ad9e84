"""Fixtures of the LangChain integration tests: autolog on, model clients pointed at the recorded model
server, and the cassette of the running test.

Tests that talk HTTP replay ``cassettes/langchain/<test name>.yaml``; ``scripts/record_cassettes.py
langchain`` records them anew from a real model. Unmarked tests are recorded against the Python server,
``needs_embedding_server`` ones against it with embeddings on. LangChain's OpenAI clients put nothing random
in request bodies (no ids, no timestamps), so vcrpy's default body matching replays them as recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

from cassettes import FAKE_API_KEY, MODEL_BASE_URL, MODEL_NAME, use_cassette

pytest.importorskip("langchain_core", reason="the LangChain integration tests need langchain-core")


@pytest.fixture
def autolog() -> Iterator[None]:
    """``spanlog.langchain.autolog()`` for the test (the root conftest disables every integration after it)."""
    spanlog.langchain.autolog()
    yield


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Replays (or, when recording, records) ``cassettes/langchain/<test name>.yaml``."""
    with use_cassette("langchain", request.node.name) as recorded:
        yield recorded


@pytest.fixture
def chat_model(autolog: None, cassette: Any) -> Any:
    """A ``ChatOpenAI`` on the recorded model server: deterministic, no retries."""
    import httpx
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=MODEL_NAME,
        base_url=MODEL_BASE_URL,
        api_key=FAKE_API_KEY,
        temperature=0,
        seed=7,
        max_tokens=24,
        max_retries=0,
        # LangChain caches one async HTTP client per process; bound to the event loop of the test that
        # made it, it cannot serve a later test's loop when recording against a real server
        http_async_client=httpx.AsyncClient(),
    )


@pytest.fixture
def embeddings(autolog: None, cassette: Any) -> Any:
    """``OpenAIEmbeddings`` on the recorded model server (plain strings: the local server takes no token ids)."""
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=MODEL_NAME,
        base_url=MODEL_BASE_URL,
        api_key=FAKE_API_KEY,
        check_embedding_ctx_length=False,
        max_retries=0,
    )
