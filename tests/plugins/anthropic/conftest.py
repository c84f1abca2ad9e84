"""Fixtures of the Anthropic plugin tests: autolog on, SDK clients pointed at the recorded model server, and
the cassette of the running test.

The plugin is installed in the workspace, so ``spanlog.anthropic.autolog()`` finds it by its entry point;
nothing is registered by hand. Tests that talk HTTP replay ``cassettes/anthropic/<test name>.yaml``.
``python scripts/record_cassettes.py anthropic tests/plugins/anthropic --servers cpp`` records the
``needs_cpp_server`` ones anew against llama.cpp's C++ ``llama-server``, which serves the Anthropic Messages
API; ``hand_written_cassette`` tests replay cassettes written from Anthropic's API reference, never recorded.
"""

from __future__ import annotations

import gc
import types
from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

from cassettes import FAKE_API_KEY, MODEL_NAME, use_cassette

anthropic = pytest.importorskip("anthropic", reason="the Anthropic plugin tests need the anthropic SDK")

from anthropic_helpers import MODEL_ROOT_URL  # noqa: E402


@pytest.fixture(autouse=True)
def nothing_went_wrong() -> Iterator[None]:
    """After each test (and its dropped streams' collection): spanlog counted no failure and no call on a
    span after its end, so every span ended exactly once."""
    yield
    gc.collect()
    assert spanlog.tracing.stats() == {}


@pytest.fixture
def autolog() -> Iterator[types.ModuleType]:
    """``spanlog.anthropic.autolog()`` for the test (the root conftest disables every integration after it)."""
    spanlog.anthropic.autolog()
    yield anthropic


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Replays (or, when recording, records) ``cassettes/anthropic/<test name>.yaml``; a hand-written
    cassette is only ever replayed."""
    options = {"record_mode": "none"} if request.node.get_closest_marker("hand_written_cassette") else {}
    with use_cassette("anthropic", request.node.name, **options) as recorded:
        yield recorded


@pytest.fixture
def client(autolog: types.ModuleType, cassette: Any) -> Any:
    """A sync client on the recorded model server (no retries: a missing recording fails at once)."""
    return anthropic.Anthropic(base_url=MODEL_ROOT_URL, api_key=FAKE_API_KEY, max_retries=0)


@pytest.fixture
def aclient(autolog: types.ModuleType, cassette: Any) -> Any:
    """An async client on the recorded model server."""
    return anthropic.AsyncAnthropic(base_url=MODEL_ROOT_URL, api_key=FAKE_API_KEY, max_retries=0)


@pytest.fixture
def model() -> str:
    """The model name the requests send (the local server accepts any)."""
    return MODEL_NAME
