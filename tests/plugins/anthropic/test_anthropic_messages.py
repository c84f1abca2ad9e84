"""``messages.create`` and ``messages.stream`` on the sync and async clients, replayed from real traffic of a
real model (llama.cpp's ``llama-server``, which serves the Anthropic Messages API).

The model is a tiny base model: the tests check the span tree, types, inputs, outputs, attributes, events and
token usage, and that they agree with what the SDK returned; never what the reply says.
"""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import pytest

import spanlog
from spanlog.plugins import suppress_spans

from anthropic_helpers import (
    FINISH_REASON,
    MESSAGES,
    MODEL,
    MODEL_ROOT_URL,
    PROVIDER,
    TOOL_CALLS,
    TOOLS,
    USAGE,
    expected_usage,
)
from cassettes import FAKE_API_KEY
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree

pytestmark = pytest.mark.needs_cpp_server

SYSTEM = "You answer in one short sentence."
QUESTION = "What is the capital of France?"


def request(model: str, **extra: Any) -> dict[str, Any]:
    """The keyword arguments of a small request."""
    return {
        "model": model,
        "max_tokens": 12,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": QUESTION}],
        **extra,
    }


def text_of(message: dict[str, Any]) -> str:
    """The joined text blocks of a message (plain data)."""
    return "".join(block["text"] for block in message["content"] if block["type"] == "text")


def assert_recorded(span: Any, reply: dict[str, Any], inputs: dict[str, Any]) -> None:
    """The span of one call that returned ``reply`` (plain data): everything it records agrees with it."""
    assert span.span_type == "CHAT_MODEL"
    assert span.status.status_code.value == "OK"
    assert span.inputs == inputs
    assert span.outputs == reply
    attributes = span.attributes
    assert attributes[MODEL] == reply["model"]
    assert attributes[PROVIDER] == "local"  # a server on this machine
    assert attributes[FINISH_REASON] == reply["stop_reason"]
    assert attributes[USAGE] == expected_usage(reply["usage"])
    conversation = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    if reply["content"]:
        conversation.append({"role": "assistant", "content": text_of(reply)})
    assert attributes[MESSAGES] == conversation
    assert TOOLS not in attributes and TOOL_CALLS not in attributes


def folded(events: list[Any]) -> dict[str, Any]:
    """What the raw events of a stream say about the reply, folded here independently of the plugin."""
    start = next(e for e in events if e.type == "message_start").message
    deltas = [e for e in events if e.type == "message_delta"]
    usage = start.usage.to_dict()
    for delta in deltas:
        usage.update({k: v for k, v in delta.usage.to_dict().items() if v is not None})
    return {
        "id": start.id,
        "model": start.model,
        "text": "".join(
            e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
        ),
        "stop_reason": deltas[-1].delta.stop_reason if deltas else None,
        "usage": usage,
    }


def first_delta(events: list[Any]) -> int:
    """The index of the first content delta among the events the user's loop received."""
    return next(i for i, e in enumerate(events) if e.type == "content_block_delta")


def assert_stream_recorded(span: Any, events: list[Any], inputs: dict[str, Any]) -> None:
    """The span of a stream read to its end agrees with the events the user received."""
    expected = folded(events)
    outputs = span.outputs
    assert (outputs["id"], outputs["model"]) == (expected["id"], expected["model"])
    assert text_of(outputs) == expected["text"]
    assert outputs["stop_reason"] == expected["stop_reason"]
    assert outputs["usage"] == expected["usage"]
    assert_recorded(span, outputs, inputs)
    assert event_names(span) == ["first_token"]
    assert span.events[0].attributes == {"index": first_delta(events)}


# -- create ---------------------------------------------------------------------------------------------------


def test_create(client: Any, model: str) -> None:
    reply = client.messages.create(**request(model))

    assert type(reply) is anthropic.types.Message
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    span = the_span()
    assert_recorded(span, reply.to_dict(mode="json"), request(model))
    assert event_names(span) == []


async def test_create_async(aclient: Any, model: str) -> None:
    reply = await aclient.messages.create(**request(model))

    assert type(reply) is anthropic.types.Message
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert_recorded(the_span(), reply.to_dict(mode="json"), request(model))


def test_create_stream(client: Any, model: str) -> None:
    stream = client.messages.create(**request(model), stream=True)
    assert isinstance(stream, anthropic.Stream)
    events = list(stream)

    assert [events[0].type, events[-1].type] == ["message_start", "message_stop"]
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert_stream_recorded(the_span(), events, request(model, stream=True))


async def test_create_stream_async(aclient: Any, model: str) -> None:
    stream = await aclient.messages.create(**request(model), stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    events = [event async for event in stream]

    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert_stream_recorded(the_span(), events, request(model, stream=True))


# -- the messages.stream helper -------------------------------------------------------------------------------


def test_stream_helper_iterated(client: Any, model: str) -> None:
    with client.messages.stream(**request(model)) as stream:
        assert isinstance(stream, anthropic.MessageStream)
        events = list(stream)
        assert spanlog.get_last_active_trace() is not None  # the span ended with the events, before the exit
        final = stream.get_final_message()

    assert tree(the_trace()) == "anthropic.messages.stream [CHAT_MODEL] OK"
    span = the_span()
    raw = [e for e in events if e.type in ("message_start", "content_block_delta", "message_delta")]
    assert folded(raw)["text"] == text_of(span.outputs)
    assert span.outputs == final.to_dict(mode="json")
    assert_recorded(span, span.outputs, request(model))
    assert event_names(span) == ["first_token"]
    assert span.events[0].attributes == {"index": first_delta(events)}


def test_stream_helper_text_stream(client: Any, model: str) -> None:
    with client.messages.stream(**request(model)) as stream:
        pieces = list(stream.text_stream)
        assert spanlog.get_last_active_trace() is not None  # the text ran out: the span has ended
        final = stream.get_final_message()

    span = the_span()
    assert tree(the_trace()) == "anthropic.messages.stream [CHAT_MODEL] OK"
    assert "".join(pieces) == text_of(span.outputs)
    assert span.outputs == final.to_dict(mode="json")
    assert_recorded(span, span.outputs, request(model))
    assert event_names(span) == ["first_token"]


def test_stream_helper_get_final_message(client: Any, model: str) -> None:
    with client.messages.stream(**request(model)) as stream:
        final = stream.get_final_message()
        text = stream.get_final_text()

    span = the_span()
    assert isinstance(final, anthropic.types.Message) and text == text_of(span.outputs)
    assert span.outputs == final.to_dict(mode="json")
    assert_recorded(span, span.outputs, request(model))
    assert event_names(span) == ["first_token"]


async def test_stream_helper_async_text_stream(aclient: Any, model: str) -> None:
    async with aclient.messages.stream(**request(model)) as stream:
        assert isinstance(stream, anthropic.AsyncMessageStream)
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    span = the_span()
    assert tree(the_trace()) == "anthropic.messages.stream [CHAT_MODEL] OK"
    assert "".join(pieces) == text_of(span.outputs)
    assert span.outputs == final.to_dict(mode="json")
    assert_recorded(span, span.outputs, request(model))
    assert event_names(span) == ["first_token"]


async def test_stream_helper_async_until_done(aclient: Any, model: str) -> None:
    async with aclient.messages.stream(**request(model)) as stream:
        await stream.until_done()
        assert spanlog.get_last_active_trace() is not None
        snapshot = stream.current_message_snapshot

    span = the_span()
    assert span.outputs == snapshot.to_dict(mode="json")
    assert_recorded(span, span.outputs, request(model))
    assert event_names(span) == ["first_token"]


# -- streams stopped early ------------------------------------------------------------------------------------


def test_early_break(client: Any, model: str) -> None:
    stream = client.messages.create(**request(model), stream=True)
    events = []
    for event in stream:
        events.append(event)
        if event.type == "content_block_delta":
            break
    assert spanlog.get_last_active_trace() is None  # still open: the user may go on reading
    stream.close()

    span = the_span()
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert event_names(span) == ["first_token", "stream_closed_early"]
    assert span.events[1].attributes == {"reason": "closed", "items": len(events)}
    outputs = span.outputs  # what had arrived
    assert outputs["id"] == events[0].message.id and outputs["stop_reason"] is None
    assert text_of(outputs) == events[-1].delta.text
    assert span.attributes[USAGE] == expected_usage(events[0].message.usage)


def test_with_block_exit(client: Any, model: str) -> None:
    with client.messages.stream(**request(model)) as stream:
        first = next(iter(stream))

    span = the_span()
    assert first.type == "message_start"
    assert tree(the_trace()) == "anthropic.messages.stream [CHAT_MODEL] OK"
    assert event_names(span) == ["stream_closed_early"]
    assert span.events[0].attributes == {"reason": "exited", "items": 1}
    assert span.outputs["id"] == first.message.id and span.outputs["content"] == []
    assert span.attributes[MESSAGES] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]


def test_abandoned_stream(client: Any, model: str) -> None:
    stream = client.messages.create(**request(model), stream=True)
    first = next(stream)
    del stream
    gc.collect()

    span = the_span()
    assert first.type == "message_start"
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert event_names(span) == ["stream_closed_early"]
    assert span.events[0].attributes == {"reason": "abandoned", "items": 1}
    assert span.outputs["id"] == first.message.id


# -- errors ---------------------------------------------------------------------------------------------------


def test_api_error(client: Any, model: str) -> None:
    """A 400 from the server: the span is ERROR, and the user's exception is the SDK's, as without spanlog."""
    bad = request(model, max_tokens=-5)
    with pytest.raises(anthropic.BadRequestError) as traced:
        client.messages.create(**bad)
    span = the_span()
    spanlog.anthropic.autolog(disable=True)
    with pytest.raises(anthropic.BadRequestError) as untraced:
        client.messages.create(**bad)

    error, plain = traced.value, untraced.value
    assert (str(error), error.status_code, error.body) == (str(plain), plain.status_code, plain.body)
    # nothing of spanlog's is chained to it: what the SDK chains, and only that
    assert type(error.__cause__) is type(plain.__cause__)
    assert type(error.__context__) is type(plain.__context__)
    assert tree(the_trace()) == f"anthropic.messages.create [CHAT_MODEL] ERROR (BadRequestError: {error})"
    assert event_names(span) == ["exception"]
    assert span.events[0].attributes["exception.type"] == "BadRequestError"
    assert span.outputs is None
    assert span.inputs == bad
    assert span.attributes[MESSAGES] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]


async def test_stream_helper_api_error(aclient: Any, model: str) -> None:
    """The helper sends its request when its ``with`` block is entered: a failure there ends the span."""
    manager = aclient.messages.stream(**request(model, max_tokens=-5))
    with pytest.raises(anthropic.BadRequestError) as raised:
        async with manager:
            pytest.fail("the request failed: the block never runs")

    assert tree(the_trace()) == (
        f"anthropic.messages.stream [CHAT_MODEL] ERROR (BadRequestError: {raised.value})"
    )
    assert event_names(the_span()) == ["exception"]


# -- tools ----------------------------------------------------------------------------------------------------

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_tool_turns(client: Any, model: str) -> None:
    """A conversation with a tool call and its result: both in the chat shape, the tools as functions."""
    turns = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "18 C"}],
                },
                {"type": "text", "text": "Answer briefly."},
            ],
        },
    ]
    reply = client.messages.create(
        model=model, max_tokens=12, tools=[WEATHER_TOOL], tool_choice={"type": "auto"}, messages=turns
    )

    span = the_span()
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
    assert span.attributes[TOOLS] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "parameters": WEATHER_TOOL["input_schema"],
            },
        }
    ]
    call = {
        "id": "toolu_01",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    assert span.attributes[MESSAGES][:4] == [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18 C"},
        {"role": "user", "content": "Answer briefly."},
    ]
    assert span.outputs == reply.to_dict(mode="json")
    assert span.attributes[FINISH_REASON] == reply.stop_reason


# -- traces, suppression, autolog ----------------------------------------------------------------------------


def test_nested_under_trace(client: Any, model: str) -> None:
    @spanlog.trace(span_type="AGENT")
    def ask() -> list[Any]:
        first = client.messages.create(**request(model))
        with client.messages.stream(**request(model)) as stream:
            second = stream.get_final_message()
        return [first.usage, second.usage]

    usages = ask()

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "ask [AGENT] OK\n  anthropic.messages.create [CHAT_MODEL] OK\n  anthropic.messages.stream [CHAT_MODEL] OK"
    )
    totals = [expected_usage(usage) for usage in usages]
    assert trace.info.token_usage == {key: sum(t[key] for t in totals) for key in totals[0]}


def test_suppressed_and_log_traces_false(client: Any, model: str) -> None:
    """Inside ``suppress_spans()`` (a framework's span covers the call) and with ``log_traces=False`` the
    SDK runs as if untraced."""
    with suppress_spans():
        reply = client.messages.create(**request(model))
    assert type(reply) is anthropic.types.Message
    assert spanlog.get_last_active_trace() is None

    spanlog.anthropic.autolog(log_traces=False)
    with client.messages.stream(**request(model)) as stream:
        assert type(stream) is anthropic.MessageStream  # not even a proxy
        stream.until_done()
    assert spanlog.get_last_active_trace() is None


def test_double_autolog_patches_once(cassette: Any, model: str) -> None:
    from anthropic.resources.messages import AsyncMessages, Messages

    originals = {name: vars(Messages)[name] for name in ("create", "stream")}
    spanlog.anthropic.autolog()
    patched = {name: vars(Messages)[name] for name in ("create", "stream")}
    spanlog.anthropic.autolog()

    for name, wrapper in patched.items():
        assert vars(Messages)[name] is wrapper  # the second autolog changed nothing
        assert wrapper.__wrapped__ is originals[name]  # one layer over the SDK's own function
    assert vars(AsyncMessages)["create"].__wrapped__.__name__ == "create"
    client = anthropic.Anthropic(base_url=MODEL_ROOT_URL, api_key=FAKE_API_KEY, max_retries=0)
    client.messages.create(**request(model))
    assert tree(the_trace()) == "anthropic.messages.create [CHAT_MODEL] OK"
