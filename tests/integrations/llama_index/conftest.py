"""Fixtures of the LlamaIndex integration tests: autolog on, offline mock models, the recorded model server.

LlamaIndex's dispatcher swallows every exception a handler raises, so testing mode alone cannot surface a
bug in spanlog's handlers: ``no_internal_errors`` fails any test after which spanlog counted an internal
error. Tests that talk HTTP replay ``cassettes/llama_index/<test name>.yaml``; ``scripts/record_cassettes.py
llama_index`` records them anew from a real model (markers say which server, as for the OpenAI tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

pytest.importorskip("llama_index.core", reason="the LlamaIndex integration tests need llama-index-core")

from llama_index_helpers import DOCUMENTS, mock_settings


@pytest.fixture(autouse=True)
def no_internal_errors() -> Iterator[None]:
    """Fail the test if spanlog reported an internal error (the dispatcher hides raised ones)."""
    yield
    errors = {k: v for k, v in spanlog.tracing.stats().items() if k.startswith("internal_error")}
    assert not errors, f"spanlog reported internal errors: {errors}"


@pytest.fixture
def autolog() -> Iterator[None]:
    """``spanlog.llama_index.autolog()`` for the test (the root conftest disables it after)."""
    spanlog.llama_index.autolog()
    yield


@pytest.fixture
def mock_index() -> Any:
    """A VectorStoreIndex over three documents, built with a mock embedding before autolog is on."""
    from llama_index.core import VectorStoreIndex

    with mock_settings():
        return VectorStoreIndex.from_documents(DOCUMENTS)


@pytest.fixture
def mock_models() -> Iterator[None]:
    """Mock LLM and embedding as LlamaIndex's defaults for the test."""
    with mock_settings():
        yield
