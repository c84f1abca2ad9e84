"""Chat completions: every call shape (sync/async x stream/non-stream, tools, parse, the stream helper) becomes
one CHAT_MODEL span with the request, the response, the normalized attributes and token usage.

Replayed from cassettes recorded with a real (base, babbling) model: the tests compare what the span holds
with what the SDK returned, never with reply text.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import pydantic
import pytest

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from openai_helpers import chat_usage, dumped, needs_chat_parse, needs_chat_stream_helper
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in one word."},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
NAMED_TOOL = {"type": "function", "function": {"name": "get_weather"}}


def assert_chat_span(span: Any, response: Any, conversation: list[Any], **inputs: Any) -> None:
    """The span of a non-streamed chat call holds the request and exactly what the SDK returned."""
    assert span.span_type == "CHAT_MODEL" and span.status.status_code.value == "OK"
    assert span.inputs == inputs
    assert span.outputs == dumped(response)
    reply = response.choices[0].message.model_dump(exclude_none=True, mode="json")
    assert span.get_attribute(Key.CHAT_MESSAGES) == [*conversation, reply]
    assert span.get_attribute(Key.MODEL) == response.model
    assert span.get_attribute(Key.PROVIDER) == "local"
    assert span.get_attribute(Key.FINISH_REASON) == response.choices[0].finish_reason
    assert span.get_attribute(Key.TOKEN_USAGE) == chat_usage(response.usage)


def test_chat_sync(client: Any, model: str) -> None:
    response = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=8)

    trace = the_trace()
    assert tree(trace) == "chat.completions.create [CHAT_MODEL] OK"
    assert_chat_span(the_span(), response, MESSAGES, model=model, messages=MESSAGES, max_tokens=8)
    assert trace.info.token_usage == chat_usage(response.usage)
    assert the_span().events == []


async def test_chat_async(aclient: Any, model: str) -> None:
    response = await aclient.chat.completions.create(model=model, messages=MESSAGES, max_tokens=8)

    trace = the_trace()
    assert tree(trace) == "chat.completions.create [CHAT_MODEL] OK"
    assert_chat_span(the_span(), response, MESSAGES, model=model, messages=MESSAGES, max_tokens=8)
    assert trace.info.token_usage == chat_usage(response.usage)


def streamed_text(chunks: list[Any]) -> str | None:
    """The content the chunks carry, as the non-streamed reply would have it (None when none came)."""
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content is not None
    ]
    return "".join(pieces) if pieces else None


def assert_stream_span(span: Any, chunks: list[Any], messages: list[Any]) -> None:
    """The span of a fully read chat stream: the reply reassembled from the chunks, first-token event."""
    assert span.span_type == "CHAT_MODEL" and span.status.status_code.value == "OK"
    output = span.outputs
    assert output["id"] == chunks[0].id and output["object"] == "chat.completion"
    assert output["model"] == chunks[0].model
    (choice,) = output["choices"]
    assert choice["message"] == {"role": "assistant", "content": streamed_text(chunks)}
    assert streamed_text(chunks), "the recorded reply has content"
    assert choice["finish_reason"] == chunks[-1].choices[0].finish_reason
    assert span.get_attribute(Key.CHAT_MESSAGES) == [*messages, choice["message"]]
    assert span.get_attribute(Key.FINISH_REASON) == choice["finish_reason"]
    assert span.get_attribute(Key.PROVIDER) == "local"
    # the Python model server sends no usage chunk: no usage, rather than a made-up one
    assert span.get_attribute(Key.TOKEN_USAGE) is None
    assert event_names(span) == ["first_token"]
    first_content = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    assert span.events[0].attributes == {"index": first_content}
    assert span.start_time_ns < span.events[0].timestamp <= span.end_time_ns


def test_chat_stream_sync(client: Any, model: str, autolog: Any) -> None:
    stream = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
    )
    assert isinstance(stream, autolog.Stream)
    assert spanlog.get_last_active_trace() is None  # the span stays open while the user reads
    chunks = list(stream)

    trace = the_trace()
    assert tree(trace) == "chat.completions.create [CHAT_MODEL] OK"
    span = the_span()
    assert span.inputs == {
        "model": model,
        "messages": MESSAGES,
        "max_tokens": 8,
        "temperature": 0,
        "stream": True,
    }
    assert_stream_span(span, chunks, MESSAGES)


async def test_chat_stream_async(aclient: Any, model: str, autolog: Any) -> None:
    stream = await aclient.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
    )
    assert isinstance(stream, autolog.AsyncStream)
    chunks = [chunk async for chunk in stream]

    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"
    assert_stream_span(the_span(), chunks, MESSAGES)


@pytest.mark.needs_cpp_server
def test_chat_stream_usage_from_final_chunk(client: Any, model: str) -> None:
    stream = client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices  # the final chunk carries only the usage

    span = the_span()
    assert span.get_attribute(Key.TOKEN_USAGE) == chat_usage(usage)
    assert span.outputs["usage"] == usage.model_dump(exclude_unset=True, mode="json")
    assert the_trace().info.token_usage == chat_usage(usage)
    assert "first_token" in event_names(span)


def test_chat_tool_call(client: Any, model: str) -> None:
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    response = client.chat.completions.create(
        model=model, messages=question, tools=TOOLS, tool_choice=NAMED_TOOL, max_tokens=48
    )
    calls = response.choices[0].message.tool_calls
    assert calls, "the recorded reply has a tool call"

    span = the_span()
    assert_chat_span(
        span,
        response,
        question,
        model=model,
        messages=question,
        tools=TOOLS,
        tool_choice=NAMED_TOOL,
        max_tokens=48,
    )
    assert span.get_attribute(Key.CHAT_TOOLS) == TOOLS
    assert span.get_attribute(Key.CHAT_TOOL_CALLS) == [
        c.model_dump(exclude_none=True, mode="json") for c in calls
    ]
    assert span.get_attribute(Key.FINISH_REASON) == "tool_calls"


def test_chat_tool_call_stream(client: Any, model: str) -> None:
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    stream = client.chat.completions.create(
        model=model, messages=question, tools=TOOLS, tool_choice=NAMED_TOOL, max_tokens=48, stream=True
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert pieces, "the recorded stream has tool call chunks"

    span = the_span()
    message = span.outputs["choices"][0]["message"]
    expected_call = {
        "id": pieces[0].id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": "".join(p.function.arguments or "" for p in pieces)},
    }
    assert message["tool_calls"] == [expected_call]
    assert span.get_attribute(Key.CHAT_TOOL_CALLS) == [expected_call]
    assert span.get_attribute(Key.CHAT_TOOLS) == TOOLS
    assert span.get_attribute(Key.FINISH_REASON) == "tool_calls"
    assert span.get_attribute(Key.CHAT_MESSAGES)[-1] == message
    assert event_names(span) == ["first_token"]


def test_chat_tool_result_turn(client: Any, model: str) -> None:
    """The turn after a tool call: an assistant message without content, then the tool's result."""
    turn = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    response = client.chat.completions.create(model=model, messages=turn, tools=TOOLS, max_tokens=8)

    span = the_span()
    assert_chat_span(span, response, turn, model=model, messages=turn, tools=TOOLS, max_tokens=8)
    assert the_trace().info.token_usage == chat_usage(response.usage)


class City(pydantic.BaseModel):
    name: str
    country: str


@needs_chat_parse
@pytest.mark.needs_cpp_server
def test_chat_parse(client: Any, model: str) -> None:
    question = [{"role": "user", "content": "Name a city and its country."}]
    response = client.chat.completions.parse(
        model=model, messages=question, response_format=City, max_tokens=64
    )
    parsed = response.choices[0].message.parsed
    assert isinstance(parsed, City)

    assert tree(the_trace()) == "chat.completions.parse [CHAT_MODEL] OK"
    span = the_span()
    assert span.inputs == {
        "model": model,
        "messages": question,
        "max_tokens": 64,
        "response_format": {"type": "json_schema", "name": "City", "schema": City.model_json_schema()},
    }
    assert span.outputs["choices"][0]["message"]["parsed"] == parsed.model_dump()
    assert span.get_attribute(Key.CHAT_MESSAGES)[-1]["parsed"] == parsed.model_dump()
    assert span.get_attribute(Key.TOKEN_USAGE) == chat_usage(response.usage)


@needs_chat_stream_helper
def test_chat_stream_helper(client: Any, model: str) -> None:
    """``chat.completions.stream()`` reads ``create(stream=True)``: one span, ended when the stream ends."""
    with client.chat.completions.stream(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0
    ) as stream:
        events = list(stream)
        snapshot = stream.current_completion_snapshot  # the helper's own reassembly
    assert any(event.type == "content.delta" for event in events)

    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"
    span = the_span()
    assert span.outputs["choices"][0]["message"]["content"] == snapshot.choices[0].message.content
    assert event_names(span) == ["first_token"]


@needs_chat_stream_helper
def test_chat_stream_helper_left_early(client: Any, model: str) -> None:
    """Leaving the helper's ``with`` block before the end ends the span there, not at garbage collection."""
    with client.chat.completions.stream(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0
    ) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
        assert spanlog.get_last_active_trace() is None
    assert_well_formed(the_trace())  # ended when the block closed the helper, while `stream` is still alive
    span = the_span()
    assert span.status.status_code.value == "OK"
    assert event_names(span) == ["first_token", "stream_closed_early"]
    assert span.events[-1].attributes["reason"] == "closed"
    assert span.outputs["choices"][0]["message"]["content"]  # what had arrived
    del stream


def test_stream_break_then_dropped(client: Any, model: str) -> None:
    """An early ``break`` and dropping the stream (abandoned): the span ends as the stream is dropped, without
    the cyclic collector (the SDK's stream sits in a cycle with its generator; what the user holds does not)."""
    stream = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
    )
    read = 0
    for _chunk in stream:
        read += 1
        if read == 2:
            break
    assert spanlog.get_last_active_trace() is None
    gc.disable()
    try:
        del stream
        span = the_span()
    finally:
        gc.enable()
    assert span.status.status_code.value == "OK"
    assert span.events[-1].name == "stream_closed_early"
    assert span.events[-1].attributes == {"reason": "abandoned", "items": 2}


def test_stream_with_block(client: Any, model: str) -> None:
    """A stream used as a context manager: leaving the block ends the span, once."""
    with client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
    ) as stream:
        first = next(stream)
        assert first.id
    span = the_span()
    assert span.events[-1].name == "stream_closed_early"
    assert span.events[-1].attributes == {"reason": "exited", "items": 1}
    stream.close()  # closing again ends nothing twice
    assert len(the_trace().data.spans) == 1 and event_names(the_span()).count("stream_closed_early") == 1


def test_stream_closed(client: Any, model: str) -> None:
    stream = client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
    )
    next(stream)
    stream.close()
    assert the_span().events[-1].attributes == {"reason": "closed", "items": 1}


async def test_async_stream_break_and_async_with(aclient: Any, model: str) -> None:
    stream = await aclient.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
    )
    async with stream:
        async for _chunk in stream:
            break
    span = the_span()
    assert span.status.status_code.value == "OK"
    assert span.events[-1].attributes == {"reason": "exited", "items": 1}


@needs_chat_stream_helper
async def test_async_stream_helper(aclient: Any, model: str) -> None:
    async with aclient.chat.completions.stream(
        model=model, messages=MESSAGES, max_tokens=8, temperature=0
    ) as stream:
        async for event in stream:
            if event.type == "content.delta":
                break
    span = the_span()
    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"
    assert span.events[-1].attributes["reason"] == "closed"


def test_chunk_events_on_request(client: Any, model: str) -> None:
    """``autolog(chunk_events=N)`` keeps the first N chunks as events (none by default)."""
    spanlog.openai.autolog(chunk_events=2)
    chunks = list(
        client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=8, temperature=0, stream=True
        )
    )

    span = the_span()
    chunk_events = [e for e in span.events if e.name == "chunk"]
    assert [e.attributes["index"] for e in chunk_events] == [0, 1]
    assert json.loads(chunk_events[0].attributes["chunk"]) == dumped(chunks[0])
