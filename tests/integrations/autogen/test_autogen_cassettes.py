"""autogen-agentchat against a real model (replayed from cassettes recorded with the local server): the
OpenAI model client's calls become CHAT_MODEL spans with the normalized attributes, under the agent's turn.

The model is a small base model, so the tests assert structure (the tree, who spoke, what the spans hold
compared with what AutoGen returned), never reply text.
"""

from __future__ import annotations

import asyncio
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_agentchat.teams import RoundRobinGroupChat

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from cassettes import MODEL_NAME
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def spans_named(trace: Any, name: str) -> list[Any]:
    return [s for s in trace.data.spans if s.name == name]


def assert_model_span(span: Any, parent: Any) -> None:
    """A model call of the OpenAI client: under its turn, normalized, with the local server as provider."""
    assert span.span_type == "CHAT_MODEL" and span.status.status_code.value == "OK"
    assert span.parent_id == parent.span_id
    assert span.get_attribute(Key.MODEL) == MODEL_NAME
    assert span.get_attribute(Key.PROVIDER) == "local"
    messages = span.get_attribute(Key.CHAT_MESSAGES)
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "assistant"
    usage = span.get_attribute(Key.TOKEN_USAGE)
    assert (
        usage["input_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    )
    assert span.outputs["usage"] == {
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
    }


async def test_assistant_agent_with_tool(model_client: Any) -> None:
    agent = AssistantAgent(
        "calculator",
        model_client=model_client,
        tools=[add],
        system_message="You are a calculator. Always call the add tool.",
    )

    result = await agent.run(task="Use the add tool to add 2 and 3.")

    request, execution = (
        m for m in result.messages if isinstance(m, (ToolCallRequestEvent, ToolCallExecutionEvent))
    )
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "AssistantAgent.run [AGENT] OK\n"
        "  calculator.on_messages [AGENT] OK\n"
        "    OpenAIChatCompletionClient.create [CHAT_MODEL] OK\n"
        "    add [TOOL] OK"
    )
    turn = the_span("calculator.on_messages")
    model = the_span("OpenAIChatCompletionClient.create")
    assert_model_span(model, turn)
    assert model.get_attribute(Key.FINISH_REASON) == "tool_calls"
    calls = model.get_attribute(Key.CHAT_TOOL_CALLS)
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (call.id, call.name, call.arguments) for call in request.content
    ]
    assert [t["function"]["name"] for t in model.get_attribute(Key.CHAT_TOOLS)] == ["add"]
    tool = the_span("add")
    assert tool.parent_id == turn.span_id
    assert tool.get_attribute("autogen.tool.call_id") == request.content[0].id
    assert str(tool.outputs) == execution.content[0].content
    assert turn.get_attribute("autogen.messages.produced") == len(result.messages) - 1


async def test_round_robin_team(model_client: Any) -> None:
    writer = AssistantAgent("writer", model_client=model_client, system_message="You write one short line.")
    critic = AssistantAgent("critic", model_client=model_client, system_message="You comment in one line.")
    termination = TextMentionTermination("APPROVE") | MaxMessageTermination(4)
    chat = RoundRobinGroupChat([writer, critic], termination_condition=termination)

    result = await chat.run(task="Write a line about the sea.")

    speakers = [m.source for m in result.messages]
    assert speakers[0] == "user"
    trace = the_trace()
    assert_well_formed(trace)
    expected = ["RoundRobinGroupChat.run [AGENT] OK"]
    for speaker in speakers[1:]:
        expected += [
            f"  {speaker}.on_messages_stream [AGENT] OK",
            "    OpenAIChatCompletionClient.create [CHAT_MODEL] OK",
        ]
    assert tree(trace) == "\n".join(expected)
    assert speakers[1:3] == ["writer", "critic"]
    root = trace.data.spans[0]
    assert root.get_attribute("autogen.team.participants") == ["writer", "critic"]
    assert root.get_attribute("autogen.stop_reason") == result.stop_reason
    for turn in (s for s in trace.data.spans if s.name.endswith(".on_messages_stream")):
        assert turn.parent_id == root.span_id
        (model,) = [s for s in trace.data.spans if s.parent_id == turn.span_id]
        assert_model_span(model, turn)
    total = sum(
        s.get_attribute(Key.TOKEN_USAGE)["total_tokens"]
        for s in spans_named(trace, "OpenAIChatCompletionClient.create")
    )
    assert trace.info.token_usage["total_tokens"] == total


async def test_streamed_run(model_client: Any) -> None:
    agent = AssistantAgent("streamer", model_client=model_client, model_client_stream=True)

    items = [item async for item in agent.run_stream(task="Say something about rivers.")]

    result = items[-1]
    assert isinstance(result, TaskResult)
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "AssistantAgent.run_stream [AGENT] OK\n"
        "  streamer.on_messages_stream [AGENT] OK\n"
        "    OpenAIChatCompletionClient.create_stream [CHAT_MODEL] OK"
    )
    model = the_span("OpenAIChatCompletionClient.create_stream")
    assert event_names(model) == ["first_token"]
    assert model.get_attribute(Key.PROVIDER) == "local"
    reply = model.get_attribute(Key.CHAT_MESSAGES)[-1]
    assert reply == {"role": "assistant", "content": result.messages[-1].content}
    assert trace.data.spans[0].outputs["messages"][-1]["content"] == result.messages[-1].content
    assert "late-end" not in spanlog.tracing.stats()


async def test_openai_autolog_adds_no_second_model_span(model_client: Any) -> None:
    spanlog.openai.autolog()
    agent = AssistantAgent("single", model_client=model_client)

    await agent.run(task="Say hello.")

    assert tree(the_trace()) == (
        "AssistantAgent.run [AGENT] OK\n"
        "  single.on_messages [AGENT] OK\n"
        "    OpenAIChatCompletionClient.create [CHAT_MODEL] OK"
    )


async def test_openai_autolog_adds_no_second_stream_span(model_client: Any) -> None:
    spanlog.openai.autolog()
    agent = AssistantAgent("single", model_client=model_client, model_client_stream=True)

    [item async for item in agent.run_stream(task="Say hello.")]

    assert [s.name for s in the_trace().data.spans] == [
        "AssistantAgent.run_stream",
        "single.on_messages_stream",
        "OpenAIChatCompletionClient.create_stream",
    ]


async def test_concurrent_teams(model_client: Any, traces: Any) -> None:
    def make_team(prefix: str) -> RoundRobinGroupChat:
        return RoundRobinGroupChat(
            [
                AssistantAgent(f"{prefix}_one", model_client=model_client),
                AssistantAgent(f"{prefix}_two", model_client=model_client),
            ],
            termination_condition=MaxMessageTermination(3),
            name=f"{prefix}_team",
        )

    await asyncio.gather(
        make_team("red").run(task="Name a red fruit."), make_team("blue").run(task="Name a blue fruit.")
    )

    assert len(traces.get_traces()) == 2
    for trace in traces.get_traces():
        assert_well_formed(trace)
        prefix = trace.data.spans[0].get_attribute("autogen.agent.name").split("_")[0]
        assert tree(trace) == (
            "RoundRobinGroupChat.run [AGENT] OK\n"
            f"  {prefix}_one.on_messages_stream [AGENT] OK\n"
            "    OpenAIChatCompletionClient.create [CHAT_MODEL] OK\n"
            f"  {prefix}_two.on_messages_stream [AGENT] OK\n"
            "    OpenAIChatCompletionClient.create [CHAT_MODEL] OK"
        )
        first_model = spans_named(trace, "OpenAIChatCompletionClient.create")[0]
        assert prefix in first_model.get_attribute(Key.CHAT_MESSAGES)[1]["content"]
