"""AG2 against a real model (replayed from cassettes recorded with the local server): a two-agent chat with
a registered function, sync and async, and the single model span when the OpenAI integration is on too.

The model is a small base model, so the tests assert structure (the tree, what the spans hold compared with
what AG2 returned), never reply text.
"""

from __future__ import annotations

from typing import Any

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from cassettes import MODEL_NAME
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


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def agents(llm_config: dict[str, Any]) -> tuple[Any, Any]:
    """An assistant that may call ``add`` and a user proxy that executes it (no human input)."""
    from autogen import ConversableAgent, register_function

    assistant = ConversableAgent(
        "assistant", llm_config=llm_config, system_message="You are a calculator. Always call the add tool."
    )
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER")
    register_function(add, caller=assistant, executor=user, description="Add two integers.")
    return assistant, user


def assert_chat(result: Any) -> None:
    """The trace of a two-turn chat whose first reply called ``add``."""
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == TREE
    root = trace.data.spans[0]
    assert root.get_attribute("ag2.chat.messages") == len(result.chat_history)
    call = result.chat_history[1]["tool_calls"][0]
    models = [s for s in trace.data.spans if s.name == "OpenAIWrapper.create"]
    replies = [s for s in trace.data.spans if s.name == "assistant.generate_reply"]
    for model, reply in zip(models, replies):
        assert model.parent_id == reply.span_id
        assert model.get_attribute(Key.MODEL) == MODEL_NAME
        assert model.get_attribute(Key.PROVIDER) == "local"
        usage = model.get_attribute(Key.TOKEN_USAGE)
        assert (
            usage["input_tokens"] > 0
            and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        )
        assert [t["function"]["name"] for t in model.get_attribute(Key.CHAT_TOOLS)] == ["add"]
    first = models[0]
    assert first.get_attribute(Key.FINISH_REASON) == "tool_calls"
    assert first.get_attribute(Key.CHAT_TOOL_CALLS)[0]["function"] == call["function"]
    assert first.get_attribute(Key.CHAT_MESSAGES)[:2] == [
        {"role": "system", "content": "You are a calculator. Always call the add tool."},
        {"role": "user", "content": "Use the add tool to add 2 and 3.", "name": "user"},
    ]
    tool = the_span("add")
    assert tool.get_attribute("ag2.tool.call_id") == call["id"]
    assert tool.outputs == result.chat_history[2]["content"]
    assert trace.info.token_usage["total_tokens"] == sum(
        m.get_attribute(Key.TOKEN_USAGE)["total_tokens"] for m in models
    )


def test_two_agent_chat_with_function(llm_config: dict[str, Any]) -> None:
    assistant, user = agents(llm_config)

    result = user.initiate_chat(
        assistant, message="Use the add tool to add 2 and 3.", max_turns=2, silent=True
    )

    assert_chat(result)


async def test_two_agent_async_chat_with_function(llm_config: dict[str, Any]) -> None:
    assistant, user = agents(llm_config)

    result = await user.a_initiate_chat(
        assistant, message="Use the add tool to add 2 and 3.", max_turns=2, silent=True
    )

    assert_chat(result)


def test_openai_autolog_adds_no_second_model_span(llm_config: dict[str, Any]) -> None:
    from autogen import ConversableAgent

    spanlog.openai.autolog()
    assistant = ConversableAgent("assistant", llm_config=llm_config, system_message="Answer briefly.")
    user = ConversableAgent("user", llm_config=False, human_input_mode="NEVER")

    user.initiate_chat(assistant, message="Say hello.", max_turns=1, silent=True)

    assert tree(the_trace()) == (
        "user.initiate_chat [AGENT] OK\n"
        "  assistant.generate_reply [AGENT] OK\n"
        "    OpenAIWrapper.create [CHAT_MODEL] OK"
    )
