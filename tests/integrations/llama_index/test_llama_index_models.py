"""spanlog.llama_index.autolog() against a real model: recorded traffic, replayed, with asserted trees.

The model is a small base model behind an OpenAI-compatible server (``scripts/record_cassettes.py``): its
replies are often nonsense, so these tests assert structure, never reply text. The OpenAI integration is on
too in every test, to check that a model call made by LlamaIndex is one span, not two.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import spanlog

from cassettes import MODEL_NAME, use_cassette
from llama_index_helpers import DOCUMENTS, local_embedding, local_llm
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree

pytest.importorskip("llama_index.llms.openai_like", reason="needs llama-index-llms-openai-like")

# LlamaIndex's workflows read every attribute of an agent (inspect.getmembers), which trips pydantic's
# deprecation warnings; they are LlamaIndex's, not the integration's
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
]

PROVIDER_SPANS = ("chat.completions.create", "embeddings.create", "completions.create")


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Replays (or, when recording, records) ``cassettes/llama_index/<test name>.yaml``."""
    with use_cassette("llama_index", request.node.name) as recorded:
        yield recorded


@pytest.fixture
def both_autologs(cassette: Any) -> Iterator[None]:
    """LlamaIndex's and OpenAI's autolog, both on."""
    spanlog.openai.autolog()
    spanlog.llama_index.autolog()
    yield


@pytest.fixture
def local_index(cassette: Any) -> Any:
    """A VectorStoreIndex over three documents, embedded by the local model (before autolog is on)."""
    from llama_index.core import VectorStoreIndex

    return VectorStoreIndex.from_documents(DOCUMENTS, embed_model=local_embedding())


def assert_one_span_per_model_call(trace: Any) -> None:
    names = [span.name for span in trace.data.spans]
    assert not set(names) & set(PROVIDER_SPANS), names


def assert_chat_span(span: Any, *, first_token: bool = False) -> None:
    """The normalized attributes of a chat call on the local model."""
    attributes = span.attributes
    assert span.span_type == "CHAT_MODEL"
    assert attributes["spanlog.llm.provider"] == "local"
    assert attributes["spanlog.llm.model"]
    messages = attributes["spanlog.chat.messages"]
    assert messages[-1]["role"] == "assistant"
    assert all(set(m) >= {"role", "content"} for m in messages)
    assert span.outputs["role"] == "assistant"
    assert (event_names(span) == ["first_token"]) is first_token


@pytest.mark.needs_embedding_server
def test_query_engine_over_local_embeddings(local_index: Any, both_autologs: None) -> None:
    engine = local_index.as_query_engine(llm=local_llm(), similarity_top_k=2)
    response = engine.query("Where is the Eiffel Tower?")

    trace = the_trace()
    assert_well_formed(trace)
    assert_one_span_per_model_call(trace)
    lines = tree(trace).splitlines()
    assert lines[:4] == [
        "RetrieverQueryEngine.query [CHAIN] OK",
        "  VectorIndexRetriever.retrieve [RETRIEVER] OK",
        "    OpenAIEmbedding.get_query_embedding [EMBEDDING] OK",
        "  CompactAndRefine.synthesize [CHAIN] OK",
    ]
    assert lines[-1].strip() == "OpenAILike.chat [CHAT_MODEL] OK"

    retrieved = the_span("VectorIndexRetriever.retrieve").outputs
    assert [n["id"] for n in retrieved] == [n.node_id for n in response.source_nodes]
    assert [n["score"] for n in retrieved] == pytest.approx([n.score for n in response.source_nodes])

    embedding = the_span("OpenAIEmbedding.get_query_embedding")
    assert embedding.attributes["spanlog.llm.model"] == MODEL_NAME
    assert embedding.attributes["spanlog.llm.provider"] == "local"
    assert embedding.outputs["count"] == 1 and embedding.outputs["dimensions"] > 0

    chat = the_span("OpenAILike.chat")
    assert_chat_span(chat)
    assert chat.attributes["spanlog.chat.tokenUsage"]["input_tokens"] > 0
    assert trace.info.token_usage == chat.attributes["spanlog.chat.tokenUsage"]
    assert the_span("RetrieverQueryEngine.query").outputs["response"] == response.response


@pytest.mark.needs_embedding_server
def test_streamed_query(local_index: Any, both_autologs: None) -> None:
    engine = local_index.as_query_engine(llm=local_llm(), similarity_top_k=1, streaming=True)
    response = engine.query("Where is the Colosseum?")
    assert spanlog.get_last_active_trace() is None  # open until the answer is read

    text = "".join(response.response_gen)

    trace = the_trace()
    assert_well_formed(trace)
    assert_one_span_per_model_call(trace)
    lines = tree(trace).splitlines()
    assert lines[0] == "RetrieverQueryEngine.query [CHAIN] OK"
    assert "    OpenAILike.stream [CHAIN] OK" in lines
    assert "      OpenAILike.stream_chat [CHAT_MODEL] OK" in lines
    assert_chat_span(the_span("OpenAILike.stream_chat"), first_token=True)
    assert the_span("RetrieverQueryEngine.query").outputs == text


def test_chat_engine(both_autologs: None) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine

    engine = SimpleChatEngine.from_defaults(llm=local_llm())
    engine.chat("Name a city in France.")
    engine.chat("And one in Italy?")

    trace = the_trace()  # the second turn: the history goes to the model
    assert_well_formed(trace)
    assert_one_span_per_model_call(trace)
    assert tree(trace) == "SimpleChatEngine.chat [CHAIN] OK\n  OpenAILike.chat [CHAT_MODEL] OK"
    chat = the_span("OpenAILike.chat")
    assert_chat_span(chat)
    roles = [m["role"] for m in chat.attributes["spanlog.chat.messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert chat.attributes["spanlog.chat.tokenUsage"]["total_tokens"] > 0
    assert chat.attributes["spanlog.llm.finishReason"] in ("stop", "length")


def test_stream_chat_sync(both_autologs: None) -> None:
    from llama_index.core.llms import ChatMessage

    stream = local_llm().stream_chat([ChatMessage(role="user", content="Count to three.")])
    assert spanlog.get_last_active_trace() is None
    chunks = list(stream)

    trace = the_trace()
    assert_one_span_per_model_call(trace)
    assert tree(trace) == "OpenAILike.stream_chat [CHAT_MODEL] OK"
    span = the_span()
    assert_chat_span(span, first_token=True)
    assert span.outputs["content"] == chunks[-1].message.content


async def test_stream_chat_async(both_autologs: None) -> None:
    from llama_index.core.llms import ChatMessage

    stream = await local_llm().astream_chat([ChatMessage(role="user", content="Count to three.")])
    chunks = [chunk async for chunk in stream]

    trace = the_trace()
    assert_one_span_per_model_call(trace)
    assert tree(trace) == "OpenAILike.astream_chat [CHAT_MODEL] OK"
    assert_chat_span(the_span(), first_token=True)
    assert the_span().outputs["content"] == chunks[-1].message.content


def test_stream_chat_closed_early(both_autologs: None, traces: Any) -> None:
    from llama_index.core.llms import ChatMessage

    stream = local_llm(max_tokens=32).stream_chat([ChatMessage(role="user", content="Count to ten.")])
    next(stream)
    assert spanlog.get_last_active_trace() is None
    stream.close()

    span = the_span()
    assert (span.name, span.status.status_code.value) == ("OpenAILike.stream_chat", "OK")
    assert event_names(span) == ["first_token"]
    assert len(traces.get_traces()) == 1


def _agent(tool_fn: Any, name: str) -> Any:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool

    # the base model seldom calls a tool on its own: the first turn names the tool (tool_choice); the agent
    # does not stream (the local server cannot stream with tool_choice "auto" on the later turns); once the
    # model has the tool's result it would call the tool forever, so the run stops after two iterations
    # with a generated answer (``early_stopping_method="generate"``, ``max_iterations=2`` in ``run``)
    return FunctionAgent(
        tools=[FunctionTool.from_defaults(fn=tool_fn, name=name)],
        llm=local_llm(max_tokens=24),
        initial_tool_choice=name,
        streaming=False,
        early_stopping_method="generate",
        timeout=None,
        system_prompt="You answer with the help of tools.",
    )


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def lookup_population(city: str) -> int:
    """The population of a city."""
    raise LookupError(f"no data for {city!r}")


@pytest.mark.timeout(900)  # recording: each turn of the model takes tens of seconds on two cores
async def test_function_agent_with_a_tool(both_autologs: None) -> None:
    agent = _agent(multiply, "multiply")
    await agent.run(user_msg="What is 6 times 7?", max_iterations=2)

    trace = the_trace()
    assert_well_formed(trace)
    assert_one_span_per_model_call(trace)
    root = trace.data.spans[0]
    assert (root.name, root.span_type, root.status.status_code.value) == ("FunctionAgent.run", "AGENT", "OK")
    tool = the_span("multiply")
    assert tool.span_type == "TOOL" and tool.status.status_code.value == "OK"
    assert set(tool.inputs) == {"a", "b"}
    assert tool.outputs is not None
    chats = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
    assert len(chats) >= 2  # the forced tool call, then the turns after the tool's result
    first, second = chats[0].attributes, chats[1].attributes
    assert first["spanlog.chat.tools"][0]["function"]["name"] == "multiply"
    call = first["spanlog.chat.toolCalls"][0]
    assert call["function"]["name"] == "multiply"
    assert [m["role"] for m in second["spanlog.chat.messages"]][-3:] == ["assistant", "tool", "assistant"]
    assert second["spanlog.chat.messages"][-3]["tool_calls"][0]["id"] == call["id"]
    assert second["spanlog.chat.messages"][-2]["tool_call_id"] == call["id"]
    # the tool ran between the first model call and the second, under the agent's run
    assert chats[0].end_time_ns <= tool.start_time_ns <= tool.end_time_ns <= chats[1].start_time_ns
    assert trace.info.token_usage["total_tokens"] == sum(
        s.attributes["spanlog.chat.tokenUsage"]["total_tokens"] for s in chats
    )


@pytest.mark.timeout(900)
async def test_function_agent_tool_exception(both_autologs: None) -> None:
    agent = _agent(lookup_population, "lookup_population")
    await agent.run(user_msg="How many people live in Rome?", max_iterations=2)

    trace = the_trace()
    assert_well_formed(trace)
    tool = the_span("lookup_population")
    assert tool.status.status_code.value == "ERROR"
    assert tool.status.description.startswith("LookupError: no data for")
    assert event_names(tool) == ["exception"]
    # the agent hands the error to the model and goes on: the run itself succeeds
    assert trace.data.spans[0].status.status_code.value == "OK"


def test_chat_engine_stream(both_autologs: None) -> None:
    from llama_index.core.chat_engine import SimpleChatEngine

    engine = SimpleChatEngine.from_defaults(llm=local_llm())
    response = engine.stream_chat("Name a city in Spain.")
    text = "".join(response.response_gen)  # written by LlamaIndex's thread, read here

    trace = the_trace()
    assert_well_formed(trace)
    assert_one_span_per_model_call(trace)
    assert tree(trace) == (
        "SimpleChatEngine.stream_chat [CHAIN] OK\n"
        "  OpenAILike.stream_chat [CHAT_MODEL] OK\n"
        "  StreamingAgentChatResponse.write_response_to_history [CHAIN] OK"
    )
    chat = the_span("OpenAILike.stream_chat")
    assert_chat_span(chat, first_token=True)
    assert chat.outputs["content"] == text
