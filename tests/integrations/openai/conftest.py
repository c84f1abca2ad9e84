"""Fixtures of the OpenAI integration tests: autolog on, SDK clients pointed at the recorded model server,
and the cassette of the running test.

Every test that talks HTTP replays ``cassettes/openai/<test name>.yaml``; ``scripts/record_cassettes.py
openai`` records them anew from a real model. Markers tell the recorder which server a test needs:
unmarked tests are recorded against the Python server, ``needs_embedding_server`` against it with
embeddings on, ``needs_cpp_server`` against llama.cpp's C++ server (usage chunks, ``/v1/responses``), and
``hand_written_cassette`` tests are never recorded (their cassettes are written from the API reference).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

from cassettes import FAKE_API_KEY, MODEL_BASE_URL, MODEL_NAME, use_cassette

openai = pytest.importorskip("openai", reason="the OpenAI integration tests need the openai SDK")


@pytest.fixture
def autolog() -> Iterator[types.ModuleType]:
    """``spanlog.openai.autolog()`` for the test (the root conftest disables every integration after it)."""
    spanlog.openai.autolog()
    yield openai


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Replays (or, when recording, records) ``cassettes/openai/<test name>.yaml``."""
    with use_cassette("openai", request.node.name) as recorded:
        yield recorded


@pytest.fixture
def client(autolog: types.ModuleType, cassette: Any) -> Any:
    """A sync client on the recorded model server (no retries: a missing recording fails at once)."""
    return openai.OpenAI(base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0)


@pytest.fixture
def aclient(autolog: types.ModuleType, cassette: Any) -> Any:
    """An async client on the recorded model server."""
    return openai.AsyncOpenAI(base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0)


@pytest.fixture
def model() -> str:
    """The model name the requests send (the local server accepts any)."""
    return MODEL_NAME
