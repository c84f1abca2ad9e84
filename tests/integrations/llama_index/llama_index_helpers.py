"""Shared data and models of the LlamaIndex tests: documents, mock settings, OpenAI-compatible models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llama_index.core import Document, Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from cassettes import FAKE_API_KEY, MODEL_BASE_URL, MODEL_NAME

DOCUMENTS = [
    Document(text="The Eiffel Tower is in Paris.", doc_id="doc-paris"),
    Document(text="The Colosseum is in Rome.", doc_id="doc-rome"),
    Document(text="Big Ben is in London.", doc_id="doc-london"),
]


@contextmanager
def mock_settings() -> Iterator[None]:
    """MockLLM (8 tokens) and MockEmbedding as LlamaIndex's defaults inside the block."""
    saved = (Settings._llm, Settings._embed_model)
    Settings.llm = MockLLM(max_tokens=8)
    Settings.embed_model = MockEmbedding(embed_dim=8)
    try:
        yield
    finally:
        Settings._llm, Settings._embed_model = saved


def local_llm(**kwargs: Any) -> Any:
    """The recorded model server as an OpenAI-compatible chat model.

    ``llama_index.llms.openai.OpenAI`` refuses model names it does not know (it looks up their context
    window), so the tests use ``OpenAILike`` with the context window and capabilities stated.
    """
    from llama_index.llms.openai_like import OpenAILike

    options: dict[str, Any] = {
        "model": MODEL_NAME,
        "api_base": MODEL_BASE_URL,
        "api_key": FAKE_API_KEY,
        "max_retries": 0,
        "temperature": 0.0,
        "max_tokens": 16,
        "context_window": 8192,
        "is_chat_model": True,
        "is_function_calling_model": True,
        "additional_kwargs": {"seed": 7},
    }
    options.update(kwargs)
    return OpenAILike(**options)


def local_embedding() -> Any:
    """The recorded model server's embeddings, through LlamaIndex's OpenAI embedding class."""
    from llama_index.embeddings.openai import OpenAIEmbedding

    return OpenAIEmbedding(
        model_name=MODEL_NAME,
        api_base=MODEL_BASE_URL,
        api_key=FAKE_API_KEY,
        max_retries=0,
        embed_batch_size=8,
    )
