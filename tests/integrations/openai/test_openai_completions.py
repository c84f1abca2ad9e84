"""Legacy completions (LLM spans) and embeddings (EMBEDDING spans), sync and async, streamed where the API
streams."""

from __future__ import annotations

from typing import Any

import pytest

from spanlog.entities import SpanAttributeKey as Key

from openai_helpers import chat_usage, dumped
from tree_helpers import event_names, the_span, the_trace, tree

PROMPT = "Once upon a time"


def assert_completion_span(span: Any, response: Any, **inputs: Any) -> None:
    assert span.span_type == "LLM" and span.status.status_code.value == "OK"
    assert span.inputs == inputs
    assert span.outputs == dumped(response)
    assert span.get_attribute(Key.MODEL) == response.model
    assert span.get_attribute(Key.PROVIDER) == "local"
    assert span.get_attribute(Key.FINISH_REASON) == response.choices[0].finish_reason
    assert span.get_attribute(Key.TOKEN_USAGE) == chat_usage(response.usage)
    assert span.get_attribute(Key.CHAT_MESSAGES) is None  # a prompt, not a conversation


def test_completion_sync(client: Any, model: str) -> None:
    response = client.completions.create(model=model, prompt=PROMPT, max_tokens=6)

    assert tree(the_trace()) == "completions.create [LLM] OK"
    assert_completion_span(the_span(), response, model=model, prompt=PROMPT, max_tokens=6)
    assert the_trace().info.token_usage == chat_usage(response.usage)


async def test_completion_async(aclient: Any, model: str) -> None:
    response = await aclient.completions.create(model=model, prompt=PROMPT, max_tokens=6)

    assert tree(the_trace()) == "completions.create [LLM] OK"
    assert_completion_span(the_span(), response, model=model, prompt=PROMPT, max_tokens=6)


def assert_completion_stream_span(span: Any, chunks: list[Any]) -> None:
    assert span.span_type == "LLM" and span.status.status_code.value == "OK"
    (choice,) = span.outputs["choices"]
    assert choice == {
        "index": 0,
        "text": "".join(c.choices[0].text for c in chunks if c.choices),
        "finish_reason": next(c.choices[0].finish_reason for c in reversed(chunks) if c.choices),
    }
    assert span.outputs["id"] == chunks[0].id and span.outputs["object"] == "text_completion"
    assert span.get_attribute(Key.FINISH_REASON) == choice["finish_reason"]
    assert event_names(span) == ["first_token"]


def test_completion_stream_sync(client: Any, model: str) -> None:
    chunks = list(
        client.completions.create(model=model, prompt=PROMPT, max_tokens=6, temperature=0, stream=True)
    )

    assert tree(the_trace()) == "completions.create [LLM] OK"
    span = the_span()
    assert span.inputs == {
        "model": model,
        "prompt": PROMPT,
        "max_tokens": 6,
        "temperature": 0,
        "stream": True,
    }
    assert_completion_stream_span(span, chunks)


async def test_completion_stream_async(aclient: Any, model: str) -> None:
    stream = await aclient.completions.create(
        model=model, prompt=PROMPT, max_tokens=6, temperature=0, stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert tree(the_trace()) == "completions.create [LLM] OK"
    assert_completion_stream_span(the_span(), chunks)


def assert_embedding_span(span: Any, response: Any, **inputs: Any) -> None:
    assert span.span_type == "EMBEDDING" and span.status.status_code.value == "OK"
    assert span.inputs == inputs
    assert span.outputs == dumped(response)
    assert len(span.outputs["data"]) == len(response.data)
    assert span.get_attribute(Key.MODEL) == response.model
    assert span.get_attribute(Key.PROVIDER) == "local"
    usage = {"input_tokens": response.usage.prompt_tokens, "total_tokens": response.usage.total_tokens}
    assert span.get_attribute(Key.TOKEN_USAGE) == usage


@pytest.mark.needs_embedding_server
def test_embeddings_sync(client: Any, model: str) -> None:
    texts = ["spanlog traces GenAI apps", "a second sentence"]
    response = client.embeddings.create(model=model, input=texts, encoding_format="float")
    assert len(response.data) == 2

    assert tree(the_trace()) == "embeddings.create [EMBEDDING] OK"
    assert_embedding_span(the_span(), response, model=model, input=texts, encoding_format="float")
    assert the_trace().info.token_usage == the_span().get_attribute(Key.TOKEN_USAGE)


@pytest.mark.needs_embedding_server
async def test_embeddings_async(aclient: Any, model: str) -> None:
    response = await aclient.embeddings.create(model=model, input="one text", encoding_format="float")

    assert tree(the_trace()) == "embeddings.create [EMBEDDING] OK"
    assert_embedding_span(the_span(), response, model=model, input="one text", encoding_format="float")
