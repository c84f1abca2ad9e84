"""Replies the recording server cannot produce, replayed from cassettes written by hand from Anthropic's API
reference (each says so in its first line): ``tool_use`` blocks (the recorded model makes no tool calls),
streamed with ``input_json_delta`` too, a 429 ``rate_limit_error``, and an ``error`` event mid-stream.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from anthropic_helpers import FINISH_REASON, MESSAGES, TOOL_CALLS, TOOLS, USAGE, expected_usage
from tree_helpers import event_names, the_span, the_trace, tree

pytestmark = pytest.mark.hand_written_cassette

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_TOOL["input_schema"],
    },
}


def tool_request(model: str, **extra: Any) -> dict[str, Any]:
    """A request offering the weather tool."""
    return {"model": model, "max_tokens": 256, "tools": [WEATHER_TOOL], "messages": QUESTION, **extra}


def expected_call(tool_use: Any) -> dict[str, Any]:
    """A ``tool_use`` block (SDK object) as the chat tool call the span records."""
    return {
        "id": tool_use.id,
        "type": "function",
        "function": {"name": tool_use.name, "arguments": json.dumps(tool_use.input)},
    }


def assert_tool_call_span(span: Any, message: Any) -> None:
    """The span of a reply that calls the weather tool after a sentence of text."""
    text, tool_use = message.content
    call = expected_call(tool_use)
    assert tool_use.input == {"city": "Paris"}
    assert span.outputs == message.to_dict(mode="json")
    assert span.attributes[TOOLS] == [FUNCTION]
    assert span.attributes[TOOL_CALLS] == [call]
    assert span.attributes[FINISH_REASON] == "tool_use"
    assert span.attributes[MESSAGES] == [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": text.text, "tool_calls": [call]},
    ]
    assert span.attributes[USAGE] == expected_usage(message.usage)


def test_tool_call_reply(client: Any, model: str) -> None:
    message = client.messages.create(**tool_request(model))

    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert_tool_call_span(the_span(), message)
    assert the_span().attributes[USAGE]["cached_input_tokens"] == message.usage.cache_read_input_tokens


def test_tool_call_stream(client: Any, model: str) -> None:
    """``create(stream=True)``: the reply, tool input included, rebuilt from the events the user read."""
    with client.messages.create(**tool_request(model), stream=True) as stream:
        events = list(stream)

    span = the_span()
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    pieces = [delta.partial_json for delta in deltas if delta.type == "input_json_delta"]
    assert len(pieces) > 2  # the tool's input arrived in pieces
    start = next(e for e in events if e.type == "content_block_start" and e.content_block.type == "tool_use")
    call = {
        "id": start.content_block.id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps(json.loads("".join(pieces)))},
    }
    assert span.attributes[TOOL_CALLS] == [call]
    assert span.outputs["content"][1] == {
        "type": "tool_use",
        "id": start.content_block.id,
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert span.attributes[FINISH_REASON] == "tool_use"
    assert span.attributes[USAGE] == expected_usage(span.outputs["usage"])
    assert span.attributes[USAGE]["input_tokens"] > events[0].message.usage.input_tokens  # cache writes count
    assert event_names(span) == ["first_token"]


async def test_tool_call_stream_helper(aclient: Any, model: str) -> None:
    """The async helper's ``get_final_message()``: the span records the SDK's own accumulated message."""
    async with aclient.messages.stream(**tool_request(model)) as stream:
        message = await stream.get_final_message()

    assert tree(the_trace()) == "anthropic.messages.stream [CHAT_MODEL] OK"
    assert_tool_call_span(the_span(), message)
    assert event_names(the_span()) == ["first_token"]


async def test_rate_limit_error(aclient: Any, model: str) -> None:
    with pytest.raises(anthropic.RateLimitError) as raised:
        await aclient.messages.create(model=model, max_tokens=64, messages=QUESTION)

    error = raised.value
    assert error.status_code == 429 and error.body["error"]["type"] == "rate_limit_error"
    assert tree(the_trace()) == f"anthropic.messages.create [CHAT_MODEL] ERROR (RateLimitError: {error})"
    assert the_span().outputs is None


def test_overloaded_mid_stream(client: Any, model: str) -> None:
    """An ``error`` event after some text: the user's loop gets the SDK's exception, the span is ERROR and
    keeps the text that had arrived."""
    pieces = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model=model, max_tokens=64, messages=QUESTION) as stream:
            for text in stream.text_stream:
                pieces.append(text)

    span = the_span()
    assert raised.value.body["error"]["type"] == "overloaded_error"
    assert (
        tree(the_trace()) == f"anthropic.messages.stream [CHAT_MODEL] ERROR (APIStatusError: {raised.value})"
    )
    assert event_names(span) == ["first_token", "exception"]
    assert span.outputs["content"] == [{"type": "text", "text": "".join(pieces)}]
    assert span.outputs["stop_reason"] is None
