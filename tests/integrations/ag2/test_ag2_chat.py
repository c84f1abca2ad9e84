"""AG2 chats become one trace each: ``initiate_chat`` at the root, each agent's reply under it, the model
call under the reply that made it, and each function execution under the reply that ran it.

These tests answer from a canned model client (no network), so they can assert exact trees and values; the
cassette tests replay a real model behind the OpenAI client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from ag2_helpers import canned_agents, text_reply, tool_call_reply
from tree_helpers import assert_well_formed, the_span, the_trace, tree

TREE = (
    "user.initiate_chat [AGENT] OK\n"
    "  assistant.generate_reply [AGENT] OK\n"
    "    OpenAIWrapper.create [CHAT_MODEL] OK\n"
    "  user.generate_reply [AGENT] OK\n"
    "    add [TOOL] OK\n"
    "  assistant.generate_reply [AGENT] OK\n"
    "    OpenAIWrapper.create [CHAT_MODEL] OK"
)


def spans_named(trace: Any, name: str) -> list[Any]:
    return [s for s in trace.data.spans if s.name == name]


def test_chat_with_a_function(autolog: None) -> None:
    assistant, user = canned_agents(tool_call_reply("add", {"a": 2, "b": 3}), text_reply("It is 5."))

    result = user.initiate_chat(assistant, message="What is 2 + 3?", max_turns=2, silent=True)

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == TREE
    root = trace.data.spans[0]
    assert root.inputs == {"message": "What is 2 + 3?", "max_turns": 2}
    assert root.get_attribute("ag2.chat.sender") == "user"
    assert root.get_attribute("ag2.chat.recipient") == "assistant"
    assert root.get_attribute("ag2.chat.messages") == len(result.chat_history) == 4
    assert root.outputs["summary"] == result.summary == "It is 5."

    first_reply, second_reply = spans_named(trace, "assistant.generate_reply")
    assert first_reply.parent_id == second_reply.parent_id == root.span_id
    assert first_reply.get_attribute("ag2.messages.received") == 1
    assert second_reply.get_attribute("ag2.messages.received") == 3
    assert first_reply.outputs["tool_calls"][0]["function"]["name"] == "add"
    assert second_reply.outputs["content"] == "It is 5."

    executor = the_span("user.generate_reply")
    assert executor.get_attribute("ag2.chat.sender") == "assistant"
    tool = the_span("add")
    assert tool.parent_id == executor.span_id
    assert tool.inputs == {"a": 2, "b": 3}
    assert tool.outputs == "5"  # AG2 turns a function's result into a string
    assert tool.get_attribute("ag2.tool.call_id") == "call_1"

    model = spans_named(trace, "OpenAIWrapper.create")[0]
    assert model.parent_id == first_reply.span_id
    messages = model.get_attribute(Key.CHAT_MESSAGES)
    assert messages[0] == {"role": "system", "content": "You add numbers."}
    assert messages[1] == {"role": "user", "content": "What is 2 + 3?", "name": "user"}
    assert messages[2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert model.get_attribute(Key.CHAT_TOOL_CALLS) == messages[2]["tool_calls"]
    assert [t["function"]["name"] for t in model.get_attribute(Key.CHAT_TOOLS)] == ["add", "explode"]
    assert model.get_attribute(Key.MODEL) == "canned"
    assert model.get_attribute(Key.FINISH_REASON) == "tool_calls"
    assert model.get_attribute(Key.TOKEN_USAGE) == {
        "input_tokens": 10,
        "output_tokens": 4,
        "total_tokens": 14,
    }
    assert trace.info.token_usage == {"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}


async def test_async_chat_nests_the_executor_model_call(autolog: None) -> None:
    # a_generate_oai_reply runs the model call in a thread-pool executor, which drops the context
    assistant, user = canned_agents(tool_call_reply("add", {"a": 1, "b": 1}), text_reply("2"))

    await user.a_initiate_chat(assistant, message="1 + 1?", max_turns=2, silent=True)

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == TREE
    for model in spans_named(trace, "OpenAIWrapper.create"):
        parent = next(s for s in trace.data.spans if s.span_id == model.parent_id)
        assert parent.name == "assistant.generate_reply"


def test_function_that_raises(autolog: None) -> None:
    assistant, user = canned_agents(tool_call_reply("explode", {"a": 1, "b": 2}), text_reply("Sorry."))

    result = user.initiate_chat(assistant, message="Blow up.", max_turns=2, silent=True)

    # AG2 hands the error back to the model as the function's result; the span shows it as ERROR
    assert "boom" in result.chat_history[2]["content"]
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == TREE.replace("add [TOOL] OK", "explode [TOOL] ERROR (Error: boom)")
    assert the_span("explode").outputs == "Error: boom"


async def test_concurrent_chats_keep_separate_traces(autolog: None, traces: Any) -> None:
    pairs = [
        canned_agents(tool_call_reply("add", {"a": i, "b": i}), text_reply(str(2 * i)), prefix=f"p{i}_")
        for i in range(3)
    ]

    await asyncio.gather(
        *(
            user.a_initiate_chat(assistant, message=f"{i} + {i}?", max_turns=2, silent=True)
            for i, (assistant, user) in enumerate(pairs)
        )
    )

    assert len(traces.get_traces()) == 3
    for trace in traces.get_traces():
        assert_well_formed(trace)
        root = trace.data.spans[0]
        prefix = root.name.split("user.")[0]
        assert tree(trace) == TREE.replace("user.", f"{prefix}user.").replace(
            "assistant.", f"{prefix}assistant."
        )
        i = int(prefix[1:-1])
        assert the_tool_output(trace) == str(2 * i)


def the_tool_output(trace: Any) -> Any:
    (tool,) = [s for s in trace.data.spans if s.span_type == "TOOL"]
    return tool.outputs


def test_chat_nests_under_the_users_span(autolog: None) -> None:
    assistant, user = canned_agents(text_reply("hi"))

    with spanlog.start_span("app"):
        user.initiate_chat(assistant, message="Hello.", max_turns=1, silent=True)

    assert tree(the_trace()) == (
        "app [UNKNOWN] OK\n"
        "  user.initiate_chat [AGENT] OK\n"
        "    assistant.generate_reply [AGENT] OK\n"
        "      OpenAIWrapper.create [CHAT_MODEL] OK"
    )


def test_disable_restores_the_originals(traces: Any) -> None:
    from autogen.agentchat.conversable_agent import ConversableAgent
    from autogen.oai.client import OpenAIWrapper

    names = (
        "initiate_chat",
        "a_initiate_chat",
        "generate_reply",
        "a_generate_reply",
        "execute_function",
        "a_execute_function",
    )
    before = {name: vars(ConversableAgent)[name] for name in names}
    create = vars(OpenAIWrapper)["create"]

    spanlog.ag2.autolog()
    assert all(vars(ConversableAgent)[name] is not before[name] for name in names)
    spanlog.ag2.autolog(disable=True)

    assert {name: vars(ConversableAgent)[name] for name in names} == before
    assert vars(OpenAIWrapper)["create"] is create
    assistant, user = canned_agents(text_reply("hi"))
    user.initiate_chat(assistant, message="Hello.", max_turns=1, silent=True)
    assert traces.get_traces() == []


def test_log_traces_false(traces: Any) -> None:
    spanlog.ag2.autolog(log_traces=False)
    assistant, user = canned_agents(tool_call_reply("add", {"a": 4, "b": 4}), text_reply("8"))

    result = user.initiate_chat(assistant, message="4 + 4?", max_turns=2, silent=True)

    assert result.chat_history[2]["content"] == "8"  # the function ran, untraced
    assert traces.get_traces() == []
