"""The conversions of Anthropic requests and replies to spanlog's normalized (OpenAI chat) shapes. No HTTP."""

from __future__ import annotations

import anthropic
from spanlog_anthropic import convert


def test_system_blocks_and_content_blocks() -> None:
    kwargs = {
        "system": [{"type": "text", "text": "Be brief. "}, {"type": "text", "text": "Be kind."}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}],
            },
            {"role": "assistant", "content": "Hi."},
        ],
    }
    assert convert.input_messages(kwargs) == [
        {"role": "system", "content": "Be brief. Be kind."},
        {"role": "user", "content": "Hello, world"},
        {"role": "assistant", "content": "Hi."},
    ]


def test_images_become_image_url_parts() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    linked = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    kwargs = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Compare"}, image, linked]}]}
    assert convert.input_messages(kwargs) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


def test_tool_turns() -> None:
    """``tool_use`` -> ``tool_calls`` (JSON string arguments); ``tool_result`` -> ``tool`` messages, placed
    before the rest of their turn; thinking blocks are left out."""
    kwargs = {
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig"},
                    {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "t2", "name": "weather", "input": {"city": "Rome"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "18 C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "content": [{"type": "text", "text": "25 C"}],
                    },
                    {"type": "text", "text": "Which is warmer?"},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t3", "is_error": True}]},
        ]
    }

    def call(call_id: str, city: str) -> dict:
        arguments = f'{{"city": "{city}"}}'
        return {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": arguments}}

    assert convert.input_messages(kwargs) == [
        {"role": "assistant", "content": None, "tool_calls": [call("t1", "Paris"), call("t2", "Rome")]},
        {"role": "tool", "tool_call_id": "t1", "content": "18 C"},
        {"role": "tool", "tool_call_id": "t2", "content": "25 C"},
        {"role": "user", "content": "Which is warmer?"},
        {"role": "tool", "tool_call_id": "t3", "content": ""},
    ]


def test_sdk_objects_in_the_request() -> None:
    """A previous reply's content sent back as it came (SDK objects, not dicts)."""
    reply = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Oslo"}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )
    kwargs = {"messages": [{"role": "assistant", "content": reply.content}]}
    message, calls = convert.reply(reply)
    assert convert.input_messages(kwargs) == [message]
    assert message == {"role": "assistant", "content": "Checking.", "tool_calls": calls}
    assert calls[0]["function"] == {"name": "weather", "arguments": '{"city": "Oslo"}'}


def test_messages_that_are_not_a_list_are_not_consumed() -> None:
    turns = iter([{"role": "user", "content": "hi"}])
    assert convert.input_messages({"messages": turns}) is None
    assert next(turns) == {"role": "user", "content": "hi"}


def test_tools() -> None:
    tools = [
        {"name": "weather", "description": "Weather.", "input_schema": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "bare", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    assert convert.tools({"tools": tools}) == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather.",
                "parameters": {"type": "object", "properties": {}},
            },
        },
        {"type": "function", "function": {"name": "bare", "parameters": {"type": "object"}}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    assert convert.tools({}) is None


def test_request_inputs_leave_out_unset_arguments_and_headers() -> None:
    kwargs = {
        "model": "m",
        "max_tokens": 5,
        "metadata": getattr(anthropic, "omit", anthropic.NOT_GIVEN),  # omit: anthropic 1.x and later
        "timeout": anthropic.NOT_GIVEN,
        "extra_headers": {"x-api-key": "secret"},
        "output_format": anthropic.types.Message,
    }
    assert convert.request_inputs(kwargs) == {
        "model": "m",
        "max_tokens": 5,
        "output_format": {"type": "json_schema", "name": "Message"},
    }


def test_usage_counts_the_whole_prompt() -> None:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
        "output_tokens": 7,
    }
    assert convert.usage(usage) == {
        "input_tokens": 115,
        "output_tokens": 7,
        "total_tokens": 122,
        "cached_input_tokens": 100,
    }
    assert convert.usage({"input_tokens": 3, "output_tokens": 4}) == {
        "input_tokens": 3,
        "output_tokens": 4,
        "total_tokens": 7,
    }
    assert convert.usage(None) is None
