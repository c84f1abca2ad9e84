"""autogen-agentchat runs become one trace each: the run (team or agent) at the root, each agent's turn under
it with the messages it received and produced, model calls and tool executions under the turn.

These tests use autogen-ext's ReplayChatCompletionClient (canned results, no network), so they can assert
exact trees and values; the cassette tests replay a real model behind the OpenAI client.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import Response, TaskResult
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.messages import TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.replay import ReplayChatCompletionClient

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from autogen_helpers import MODEL_INFO, replay_client, text_result, tool_call_result
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def explode(a: int, b: int) -> int:
    """A tool that always fails."""
    raise ValueError("boom")


ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"description": "a", "title": "A", "type": "integer"},
                "b": {"description": "b", "title": "B", "type": "integer"},
            },
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
}


async def test_agent_with_tool(autolog: None) -> None:
    client = replay_client(tool_call_result("add", '{"a": 2, "b": 3}'))
    agent = AssistantAgent("calculator", model_client=client, tools=[add], system_message="Use the tools.")

    result = await agent.run(task="What is 2 + 3?")

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "AssistantAgent.run [AGENT] OK\n"
        "  calculator.on_messages [AGENT] OK\n"
        "    ReplayChatCompletionClient.create [CHAT_MODEL] OK\n"
        "    add [TOOL] OK"
    )
    run = the_span("AssistantAgent.run")
    assert run.inputs == {"task": "What is 2 + 3?"}
    assert len(run.outputs["messages"]) == len(result.messages) == 4  # task, tool call, tool result, summary
    assert run.get_attribute("autogen.messages.produced") == 4
    assert run.get_attribute("autogen.agent.name") == "calculator"

    turn = the_span("calculator.on_messages")
    assert turn.parent_id == run.span_id
    assert [m["content"] for m in turn.inputs["messages"]] == ["What is 2 + 3?"]
    assert turn.get_attribute("autogen.messages.received") == 1
    assert turn.get_attribute("autogen.messages.produced") == 3  # tool call and result events, the summary
    assert turn.outputs["chat_message"]["content"] == "5"
    assert turn.outputs["chat_message"]["source"] == "calculator"

    model = the_span("ReplayChatCompletionClient.create")
    assert model.parent_id == turn.span_id
    call = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    assert model.get_attribute(Key.CHAT_MESSAGES) == [
        {"role": "system", "content": "Use the tools."},
        {"role": "user", "content": "What is 2 + 3?", "name": "user"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]
    assert model.get_attribute(Key.CHAT_TOOLS) == [ADD_TOOL]
    assert model.get_attribute(Key.CHAT_TOOL_CALLS) == [call]
    assert model.get_attribute(Key.FINISH_REASON) == "tool_calls"
    assert model.get_attribute(Key.TOKEN_USAGE) == {
        "input_tokens": 12,
        "output_tokens": 5,
        "total_tokens": 17,
    }
    assert model.inputs["tools"] == ["add"]
    assert trace.info.token_usage == {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}

    tool = the_span("add")
    assert tool.parent_id == turn.span_id
    assert tool.inputs == {"a": 2, "b": 3}
    assert tool.outputs == 5
    assert tool.get_attribute("autogen.tool.call_id") == "call_1"


async def test_tool_that_raises(autolog: None) -> None:
    client = replay_client(tool_call_result("explode", '{"a": 1, "b": 1}'))
    agent = AssistantAgent("calculator", model_client=client, tools=[explode])

    result = await agent.run(task="Blow up.")

    # AutoGen hands the error to the model as the tool's result: the run goes on, the tool span is ERROR
    assert "boom" in result.messages[-1].content
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "AssistantAgent.run [AGENT] OK\n"
        "  calculator.on_messages [AGENT] OK\n"
        "    ReplayChatCompletionClient.create [CHAT_MODEL] OK\n"
        "    explode [TOOL] ERROR (ValueError: boom)"
    )
    assert event_names(the_span("explode")) == ["exception"]


def team(prefix: str, client: Any, max_messages: int = 3) -> RoundRobinGroupChat:
    first = AssistantAgent(f"{prefix}_writer", model_client=client)
    second = AssistantAgent(f"{prefix}_critic", model_client=client)
    return RoundRobinGroupChat(
        [first, second], termination_condition=MaxMessageTermination(max_messages), name=f"{prefix}_team"
    )


async def test_round_robin_team(autolog: None) -> None:
    chat = team("t", replay_client(text_result("draft"), text_result("review")))

    result = await chat.run(task="Write a haiku.")

    assert [m.source for m in result.messages] == ["user", "t_writer", "t_critic"]
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "RoundRobinGroupChat.run [AGENT] OK\n"
        "  t_writer.on_messages_stream [AGENT] OK\n"
        "    ReplayChatCompletionClient.create [CHAT_MODEL] OK\n"
        "  t_critic.on_messages_stream [AGENT] OK\n"
        "    ReplayChatCompletionClient.create [CHAT_MODEL] OK"
    )
    root = trace.data.spans[0]
    assert root.get_attribute("autogen.team.participants") == ["t_writer", "t_critic"]
    assert root.get_attribute("autogen.agent.name") == "t_team"
    assert root.get_attribute("autogen.messages.produced") == 3
    assert "Maximum number of messages 3 reached" in root.get_attribute("autogen.stop_reason")
    writer, critic = the_span("t_writer.on_messages_stream"), the_span("t_critic.on_messages_stream")
    # the critic receives the task and the writer's message; each produces one message
    assert writer.get_attribute("autogen.messages.received") == 1
    assert critic.get_attribute("autogen.messages.received") == 2
    assert [m["source"] for m in critic.inputs["messages"]] == ["user", "t_writer"]
    assert (
        writer.get_attribute("autogen.messages.produced")
        == critic.get_attribute("autogen.messages.produced")
        == 1
    )
    assert critic.outputs["chat_message"]["content"] == "review"
    assert trace.info.token_usage == {"input_tokens": 40, "output_tokens": 6, "total_tokens": 46}


async def test_concurrent_runs_keep_separate_traces(autolog: None, traces: Any) -> None:
    first = team("a", replay_client(text_result("a1"), text_result("a2")))
    second = team("b", replay_client(text_result("b1"), text_result("b2")))

    await asyncio.gather(first.run(task="one"), second.run(task="two"))

    assert len(traces.get_traces()) == 2
    for trace in traces.get_traces():
        assert_well_formed(trace)
        prefix = trace.data.spans[0].get_attribute("autogen.agent.name")[0]
        names = [s.name for s in trace.data.spans]
        assert sorted(names) == sorted(
            [
                "RoundRobinGroupChat.run",
                f"{prefix}_writer.on_messages_stream",
                f"{prefix}_critic.on_messages_stream",
                "ReplayChatCompletionClient.create",
                "ReplayChatCompletionClient.create",
            ]
        )
        assert trace.data.spans[0].inputs == {"task": "one" if prefix == "a" else "two"}


async def test_concurrent_agent_runs_keep_separate_traces(autolog: None, traces: Any) -> None:
    agents = [
        AssistantAgent(f"agent_{i}", model_client=replay_client(text_result(f"r{i}"))) for i in range(4)
    ]

    await asyncio.gather(*(agent.run(task=f"task {i}") for i, agent in enumerate(agents)))

    assert len(traces.get_traces()) == 4
    for trace in traces.get_traces():
        assert_well_formed(trace)
        root, turn, model = trace.data.spans
        i = root.inputs["task"].split()[-1]
        assert turn.name == f"agent_{i}.on_messages" and turn.parent_id == root.span_id
        assert model.parent_id == turn.span_id
        assert model.outputs["content"] == f"r{i}"


async def test_streamed_agent_run(autolog: None) -> None:
    client = replay_client("a streamed reply")
    agent = AssistantAgent("streamer", model_client=client, model_client_stream=True)

    items = [item async for item in agent.run_stream(task="Stream something.")]

    assert isinstance(items[-1], TaskResult)
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "AssistantAgent.run_stream [AGENT] OK\n"
        "  streamer.on_messages_stream [AGENT] OK\n"
        "    ReplayChatCompletionClient.create_stream [CHAT_MODEL] OK"
    )
    root = trace.data.spans[0]
    assert root.outputs["messages"][-1]["content"] == "a streamed reply"
    assert root.get_attribute("autogen.messages.produced") == 2
    model = the_span("ReplayChatCompletionClient.create_stream")
    assert event_names(model) == ["first_token"]
    assert model.get_attribute(Key.CHAT_MESSAGES)[-1] == {"role": "assistant", "content": "a streamed reply"}
    assert "late-end" not in spanlog.tracing.stats()


async def test_streamed_team_run(autolog: None) -> None:
    chat = team("s", replay_client(text_result("one"), text_result("two")))

    items = [item async for item in chat.run_stream(task="Go.")]

    assert isinstance(items[-1], TaskResult)
    trace = the_trace()
    assert_well_formed(trace)
    assert [s.name for s in trace.data.spans] == [
        "RoundRobinGroupChat.run_stream",
        "s_writer.on_messages_stream",
        "ReplayChatCompletionClient.create",
        "s_critic.on_messages_stream",
        "ReplayChatCompletionClient.create",
    ]
    assert event_names(trace.data.spans[0]) == []


async def test_stream_closed_early_ends_its_span_once(autolog: None, traces: Any) -> None:
    agent = AssistantAgent("early", model_client=replay_client("never read"))

    stream = agent.run_stream(task="Start.")
    async for item in stream:
        assert isinstance(item, TextMessage)  # the task comes first; stop there
        break
    await stream.aclose()

    assert len(traces.get_traces()) == 1
    root = the_trace().data.spans[0]
    assert root.name == "AssistantAgent.run_stream" and root.status.status_code.value == "OK"
    assert event_names(root) == ["stream_closed_early"]
    assert root.events[0].attributes == {"reason": "closed", "items": 1}
    assert "late-end" not in spanlog.tracing.stats()


async def test_run_nests_under_the_users_span(autolog: None) -> None:
    agent = AssistantAgent("helper", model_client=replay_client("ok"))

    with spanlog.start_span("app"):
        await agent.run(task="Help.")

    assert tree(the_trace()) == (
        "app [UNKNOWN] OK\n"
        "  AssistantAgent.run [AGENT] OK\n"
        "    helper.on_messages [AGENT] OK\n"
        "      ReplayChatCompletionClient.create [CHAT_MODEL] OK"
    )


async def test_model_client_called_directly(autolog: None) -> None:
    from autogen_core.models import SystemMessage, UserMessage

    client = replay_client(text_result("hi"))

    result = await client.create(
        [SystemMessage(content="Be brief."), UserMessage(content="Hello", source="me")]
    )

    span = the_span()
    assert span.name == "ReplayChatCompletionClient.create" and span.span_type == "CHAT_MODEL"
    assert span.outputs["content"] == result.content == "hi"
    assert span.get_attribute(Key.CHAT_MESSAGES) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello", "name": "me"},
        {"role": "assistant", "content": "hi"},
    ]
    assert span.get_attribute(Key.FINISH_REASON) == "stop"


class EchoAgent(AssistantAgent):
    """A user subclass that overrides ``on_messages`` and calls the parent's (one turn, one span)."""

    async def on_messages(self, messages: Any, cancellation_token: Any) -> Response:
        response = await super().on_messages(messages, cancellation_token)
        return response


async def test_agent_subclass_defined_after_autolog(autolog: None) -> None:
    class LateAgent(EchoAgent):
        async def on_messages(self, messages: Any, cancellation_token: Any) -> Response:
            return await super().on_messages(messages, cancellation_token)

    result = await LateAgent("late", model_client=replay_client("fine")).run(task="Hi.")

    assert result.messages[-1].content == "fine"
    assert tree(the_trace()) == (
        "LateAgent.run [AGENT] OK\n"
        "  late.on_messages [AGENT] OK\n"
        "    ReplayChatCompletionClient.create [CHAT_MODEL] OK"
    )


async def test_log_traces_false(traces: Any) -> None:
    spanlog.autogen.autolog(log_traces=False)
    agent = AssistantAgent("quiet", model_client=replay_client("still answers"))

    result = await agent.run(task="Hi.")

    assert result.messages[-1].content == "still answers"
    assert traces.get_traces() == []


def patchable_attributes() -> dict[tuple[type, str], Any]:
    """Every attribute the integration may patch, as stored on its class."""
    from autogen_agentchat.agents import BaseChatAgent
    from autogen_agentchat.teams import BaseGroupChat
    from autogen_core.models import ChatCompletionClient
    from autogen_core.tools import BaseTool
    from spanlog_autogen.agentchat import _subclasses

    found = {}
    for root, names in (
        (BaseChatAgent, ("__init__", "run", "run_stream", "on_messages", "on_messages_stream")),
        (BaseGroupChat, ("run", "run_stream")),
        (ChatCompletionClient, ("create", "create_stream")),
        (BaseTool, ("run_json",)),
    ):
        for klass in _subclasses(root):
            for name in names:
                if name in vars(klass):
                    found[(klass, name)] = vars(klass)[name]
    return found


async def test_disable_restores_the_originals() -> None:
    class Defined(AssistantAgent):
        pass

    before = patchable_attributes()
    spanlog.autogen.autolog()
    after_patch = patchable_attributes()
    assert any(after_patch[key] is not value for key, value in before.items())

    class Later(AssistantAgent):  # patched when its first instance is made
        async def on_messages(self, messages: Any, cancellation_token: Any) -> Response:
            return await super().on_messages(messages, cancellation_token)

    original_later = vars(Later)["on_messages"]
    await Later("later", model_client=replay_client("x")).run(task="Hi.")
    assert vars(Later)["on_messages"] is not original_later

    spanlog.autogen.autolog(disable=True)

    assert patchable_attributes() == {**before, (Later, "on_messages"): original_later}
    assert "__init__" not in vars(Defined)
    assert spanlog.autogen.state == "available"


@pytest.mark.parametrize("method", ["run", "run_stream"])
async def test_second_autolog_patches_once(method: str) -> None:
    spanlog.autogen.autolog()
    spanlog.autogen.autolog()
    agent = AssistantAgent("once", model_client=replay_client("x"))

    if method == "run":
        await agent.run(task="Hi.")
    else:
        [item async for item in agent.run_stream(task="Hi.")]

    assert [s.name for s in the_trace().data.spans] == [
        f"AssistantAgent.{method}",
        "once.on_messages" if method == "run" else "once.on_messages_stream",
        "ReplayChatCompletionClient.create",
    ]


async def test_model_error_reaches_the_user_and_marks_the_spans(autolog: None) -> None:
    class Failing(ReplayChatCompletionClient):
        async def create(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("model down")

    agent = AssistantAgent("fragile", model_client=Failing([], model_info=MODEL_INFO))

    with pytest.raises(ConnectionError, match="model down"):
        await agent.run(task="Hi.")

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "AssistantAgent.run [AGENT] ERROR (ConnectionError: model down)\n"
        "  fragile.on_messages [AGENT] ERROR (ConnectionError: model down)\n"
        "    Failing.create [CHAT_MODEL] ERROR (ConnectionError: model down)"
    )
    model = the_span("Failing.create")
    assert model.get_attribute(Key.CHAT_MESSAGES)[-1] == {"role": "user", "content": "Hi.", "name": "user"}


async def test_team_stream_closed_early(autolog: None, traces: Any) -> None:
    chat = team("e", replay_client(text_result("one"), text_result("two")))

    stream = chat.run_stream(task="Go.")
    async for item in stream:
        assert isinstance(item, TextMessage) and item.source == "user"
        break
    await stream.aclose()

    assert len(traces.get_traces()) == 1
    trace = the_trace()
    root = trace.data.spans[0]
    assert root.name == "RoundRobinGroupChat.run_stream"
    assert event_names(root) == ["stream_closed_early"]
    assert all(span.end_time_ns is not None for span in trace.data.spans)
    assert "late-end" not in spanlog.tracing.stats()


async def test_stream_dropped_after_break_ends_its_span_once(autolog: None, traces: Any) -> None:
    agent = AssistantAgent("dropped", model_client=replay_client("never read"))

    async for _item in agent.run_stream(task="Start."):
        break  # the stream is not closed, only dropped
    gc.collect()
    await asyncio.sleep(0)  # let asyncio finalize the abandoned generator

    assert len(traces.get_traces()) == 1
    root = the_trace().data.spans[0]
    assert event_names(root) == ["stream_closed_early"]
    assert root.events[0].attributes == {"reason": "abandoned", "items": 1}
    assert "late-end" not in spanlog.tracing.stats()


def test_plugins_import_neither_library() -> None:
    code = (
        "import sys, spanlog_autogen.plugin, spanlog_autogen.plugin_ag2; "
        "loaded = {'autogen_agentchat', 'autogen_core', 'autogen'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
