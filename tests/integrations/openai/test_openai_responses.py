"""The Responses API: ``responses.create`` (sync, async, streamed), the ``responses.stream`` helper and
``responses.parse`` become CHAT_MODEL spans; a stream's outputs are the response of its final event.

Recorded against llama.cpp's C++ server, which serves ``/v1/responses`` (the Python server does not). Function
calls, a successful ``parse``, a failed response and the ``responses.stream`` helper come from hand-written
cassettes: this model makes no function calls there, the server ignores the JSON schema of a Responses
request, never fails a response, and streams events without the ``output_index`` fields the helper needs.
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from openai_helpers import dumped, needs_responses
from tree_helpers import event_names, the_span, the_trace, tree

pytestmark = needs_responses

POEM = "Write a short poem about the sea."


def responses_usage(usage: Any) -> dict[str, int]:
    expected = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    details = getattr(usage, "input_tokens_details", None)
    if details is not None and details.cached_tokens is not None:
        expected["cached_input_tokens"] = details.cached_tokens
    return expected


def assert_response_span(span: Any, response: Any, conversation: list[Any]) -> None:
    assert span.span_type == "CHAT_MODEL" and span.status.status_code.value == "OK"
    assert span.outputs == dumped(response)
    assert span.get_attribute(Key.CHAT_MESSAGES) == [
        *conversation,
        {"role": "assistant", "content": response.output_text},
    ]
    assert span.get_attribute(Key.MODEL) == response.model
    assert span.get_attribute(Key.PROVIDER) == "local"
    assert span.get_attribute(Key.FINISH_REASON) == "stop"
    assert span.get_attribute(Key.TOKEN_USAGE) == responses_usage(response.usage)


@pytest.mark.needs_cpp_server
def test_responses_sync(client: Any, model: str) -> None:
    response = client.responses.create(model=model, input=POEM, max_output_tokens=8, temperature=0)

    trace = the_trace()
    assert tree(trace) == "responses.create [CHAT_MODEL] OK"
    span = the_span()
    assert span.inputs == {"model": model, "input": POEM, "max_output_tokens": 8, "temperature": 0}
    assert_response_span(span, response, [{"role": "user", "content": POEM}])
    assert trace.info.token_usage == responses_usage(response.usage)


@pytest.mark.needs_cpp_server
async def test_responses_async_with_instructions_and_turns(aclient: Any, model: str) -> None:
    turns = [
        {"type": "message", "role": "user", "content": "Hi"},
        {"type": "message", "role": "assistant", "content": "Hello."},
        {"type": "message", "role": "user", "content": POEM},
    ]
    response = await aclient.responses.create(
        model=model, instructions="You are a poet.", input=turns, max_output_tokens=8, temperature=0
    )

    assert tree(the_trace()) == "responses.create [CHAT_MODEL] OK"
    conversation = [
        {"role": "system", "content": "You are a poet."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": POEM},
    ]
    assert_response_span(the_span(), response, conversation)


def assert_response_stream_span(span: Any, events: list[Any]) -> None:
    completed = events[-1]
    assert completed.type == "response.completed"
    assert span.span_type == "CHAT_MODEL" and span.status.status_code.value == "OK"
    assert span.outputs == dumped(completed.response)
    assert span.get_attribute(Key.CHAT_MESSAGES)[-1] == {
        "role": "assistant",
        "content": completed.response.output_text,
    }
    assert span.get_attribute(Key.TOKEN_USAGE) == responses_usage(completed.response.usage)
    assert event_names(span) == ["first_token"]
    first_delta = next(i for i, e in enumerate(events) if e.type.endswith(".delta"))
    assert span.events[0].attributes == {"index": first_delta}


@pytest.mark.needs_cpp_server
def test_responses_stream_sync(client: Any, model: str, autolog: Any) -> None:
    stream = client.responses.create(model=model, input=POEM, max_output_tokens=6, temperature=0, stream=True)
    assert isinstance(stream, autolog.Stream)
    events = list(stream)

    assert tree(the_trace()) == "responses.create [CHAT_MODEL] OK"
    assert_response_stream_span(the_span(), events)
    assert the_trace().info.token_usage == responses_usage(events[-1].response.usage)


@pytest.mark.needs_cpp_server
async def test_responses_stream_async(aclient: Any, model: str) -> None:
    stream = await aclient.responses.create(
        model=model, input=POEM, max_output_tokens=6, temperature=0, stream=True
    )
    events = [event async for event in stream]

    assert tree(the_trace()) == "responses.create [CHAT_MODEL] OK"
    assert_response_stream_span(the_span(), events)


@pytest.mark.hand_written_cassette
def test_responses_stream_helper(client: Any, model: str) -> None:
    """``responses.stream()`` reads ``create(stream=True)``. Hand-written: the C++ server's events lack the
    ``output_index`` fields the helper needs."""
    with client.responses.stream(model=model, input=POEM) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert any(event.type == "response.output_text.delta" for event in events)

    assert tree(the_trace()) == "responses.create [CHAT_MODEL] OK"
    span = the_span()
    assert (
        span.outputs["id"] == final.id
        and span.outputs["output"][0]["content"][0]["text"] == final.output_text
    )
    assert span.get_attribute(Key.CHAT_MESSAGES) == [
        {"role": "user", "content": POEM},
        {"role": "assistant", "content": final.output_text},
    ]
    assert span.get_attribute(Key.TOKEN_USAGE) == responses_usage(final.usage)
    assert event_names(span) == ["first_token"]


@pytest.mark.hand_written_cassette
def test_responses_stream_helper_left_early(client: Any, model: str) -> None:
    """Leaving the helper's ``with`` block early ends the span there."""
    with client.responses.stream(model=model, input=POEM) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
        assert spanlog.get_last_active_trace() is None
    span = the_span()
    assert span.status.status_code.value == "OK"
    assert event_names(span) == ["first_token", "stream_closed_early"]
    assert span.events[-1].attributes["reason"] == "closed"
    assert span.outputs["output_text"] == event.delta


@pytest.mark.needs_cpp_server
def test_responses_stream_left_early(client: Any, model: str) -> None:
    """Without a final event, the outputs hold the text that had arrived."""
    stream = client.responses.create(model=model, input=POEM, max_output_tokens=6, temperature=0, stream=True)
    text = []
    for event in stream:
        if event.type == "response.output_text.delta":
            text.append(event.delta)
            if len(text) == 2:
                break
    stream.close()

    span = the_span()
    assert span.status.status_code.value == "OK"
    assert span.outputs["output_text"] == "".join(text) and span.outputs["status"] == "in_progress"
    assert span.get_attribute(Key.CHAT_MESSAGES)[-1] == {"role": "assistant", "content": "".join(text)}
    assert event_names(span) == ["first_token", "stream_closed_early"]


@pytest.mark.needs_cpp_server
def test_responses_bad_request_4xx(client: Any, model: str, autolog: Any) -> None:
    """A real 400 of the C++ server (it cannot tell the type of an input item without ``type``)."""
    openai = autolog
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=model, input=turns, max_output_tokens=4)
    span = the_span()
    assert span.name == "responses.create" and span.status.status_code.value == "ERROR"
    assert span.status.description == f"BadRequestError: {info.value}"
    assert span.get_attribute(Key.CHAT_MESSAGES) == turns


TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    }
]
CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": TOOLS[0]["parameters"],
            "strict": True,
        },
    }
]


@pytest.mark.hand_written_cassette
def test_responses_function_call_and_its_result(client: Any, model: str) -> None:
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.responses.create(model=model, input=[question], tools=TOOLS)
    (call,) = [item for item in first.output if item.type == "function_call"]

    span = the_span()
    assert span.get_attribute(Key.CHAT_TOOLS) == CHAT_TOOLS
    tool_call = {
        "id": call.call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": call.arguments},
    }
    assert span.get_attribute(Key.CHAT_TOOL_CALLS) == [tool_call]
    assert span.get_attribute(Key.FINISH_REASON) == "tool_calls"
    assert span.get_attribute(Key.CHAT_MESSAGES) == [
        question,
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
    ]

    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}
    second = client.responses.create(model=model, input=[question, call, result], tools=TOOLS)

    span = the_span()
    assert span.get_attribute(Key.CHAT_MESSAGES) == [
        question,
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "sunny, 21 C"},
        {"role": "assistant", "content": second.output_text},
    ]
    assert span.get_attribute(Key.FINISH_REASON) == "stop"
    assert span.get_attribute(Key.TOKEN_USAGE) == responses_usage(second.usage)


class City(pydantic.BaseModel):
    name: str
    country: str


@pytest.mark.hand_written_cassette
def test_responses_parse(client: Any, model: str) -> None:
    response = client.responses.parse(model=model, input="Name a city and its country.", text_format=City)
    assert isinstance(response.output_parsed, City)

    assert tree(the_trace()) == "responses.parse [CHAT_MODEL] OK"
    span = the_span()
    assert span.inputs["text_format"] == {
        "type": "json_schema",
        "name": "City",
        "schema": City.model_json_schema(),
    }
    assert span.outputs["output"][0]["content"][0]["parsed"] == response.output_parsed.model_dump()
    assert span.get_attribute(Key.TOKEN_USAGE) == responses_usage(response.usage)


@pytest.mark.hand_written_cassette
def test_responses_stream_failed(client: Any, model: str) -> None:
    """A stream whose final event is ``response.failed``: no exception, but the span is ERROR."""
    events = list(client.responses.create(model=model, input=POEM, stream=True))
    assert events[-1].type == "response.failed"

    span = the_span()
    assert span.status.status_code.value == "ERROR"
    assert span.status.description == "response failed: The model failed to generate a response."
    assert span.outputs == dumped(events[-1].response)
    assert "exception" not in event_names(span)


@pytest.mark.hand_written_cassette
def test_responses_stream_error_event(client: Any, model: str) -> None:
    """An ``error`` event mid-stream: the SDK yields it (no exception), and the span is ERROR with its code
    and message; the text that arrived before it is kept."""
    events = list(client.responses.create(model=model, input=POEM, stream=True))
    assert [event.type for event in events] == ["response.created", "response.output_text.delta", "error"]

    span = the_span()
    assert span.status.status_code.value == "ERROR"
    assert span.status.description == "error event: ERR_SOMETHING: Something went wrong"
    assert span.outputs["output_text"] == "The sea" and span.outputs["status"] == "in_progress"
    assert "exception" not in event_names(span)
