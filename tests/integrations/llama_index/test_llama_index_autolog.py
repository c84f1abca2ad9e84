"""spanlog.llama_index.autolog() offline: mock LLM and embedding, asserted trees, streams, errors, lifecycle."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import StartEvent, StopEvent, Workflow, step
from spanlog_llama_index import extract

import spanlog
from spanlog.tracing import state

from llama_index_helpers import DOCUMENTS
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree

QUERY_TREE = """\
RetrieverQueryEngine.query [CHAIN] OK
  VectorIndexRetriever.retrieve [RETRIEVER] OK
    MockEmbedding.get_query_embedding [EMBEDDING] OK
  CompactAndRefine.synthesize [CHAIN] OK
    CompactAndRefine.get_response [CHAIN] OK
      TokenTextSplitter.split_text [PARSER] OK
      CompactAndRefine.get_response [CHAIN] OK
        TokenTextSplitter.split_text [PARSER] OK
        DefaultRefineProgram.__call__ [CHAIN] OK
          MockLLM.predict [CHAIN] OK
            MockLLM.complete [LLM] OK"""

STREAMED_QUERY_TREE = """\
RetrieverQueryEngine.query [CHAIN] OK
  VectorIndexRetriever.retrieve [RETRIEVER] OK
    MockEmbedding.get_query_embedding [EMBEDDING] OK
  CompactAndRefine.synthesize [CHAIN] OK
    CompactAndRefine.get_response [CHAIN] OK
      TokenTextSplitter.split_text [PARSER] OK
      CompactAndRefine.get_response [CHAIN] OK
        TokenTextSplitter.split_text [PARSER] OK
    MockLLM.stream [CHAIN] OK
      MockLLM.stream_complete [LLM] OK"""


def ours(handlers: list[Any]) -> list[Any]:
    return [h for h in handlers if type(h).__name__.startswith("Spanlog")]


def test_autolog_adds_one_handler_pair_and_disable_removes_exactly_them(mock_models: None) -> None:
    dispatcher = get_dispatcher()
    spans_before, events_before = list(dispatcher.span_handlers), list(dispatcher.event_handlers)

    spanlog.llama_index.autolog()
    spanlog.llama_index.autolog()  # a second call only updates the settings
    assert len(ours(dispatcher.span_handlers)) == 1
    assert len(ours(dispatcher.event_handlers)) == 1
    assert spanlog.llama_index.state == "active"

    spanlog.llama_index.autolog(disable=True)
    assert dispatcher.span_handlers == spans_before
    assert all(a is b for a, b in zip(dispatcher.span_handlers, spans_before))
    assert dispatcher.event_handlers == events_before
    assert all(a is b for a, b in zip(dispatcher.event_handlers, events_before))

    FunctionTool.from_defaults(fn=lambda x: x * 2, name="double")(x=2)
    assert spanlog.get_last_active_trace() is None


def test_disable_keeps_handlers_added_by_others(mock_models: None) -> None:
    from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

    dispatcher = get_dispatcher()
    spanlog.llama_index.autolog()
    theirs = SimpleSpanHandler()
    dispatcher.add_span_handler(theirs)
    try:
        spanlog.llama_index.autolog(disable=True)
        assert any(h is theirs for h in dispatcher.span_handlers)
        assert not ours(dispatcher.span_handlers) and not ours(dispatcher.event_handlers)
    finally:
        dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not theirs]


def test_query_engine_tree(mock_index: Any, mock_models: None, autolog: None) -> None:
    response = mock_index.as_query_engine(similarity_top_k=2).query("Where is the Eiffel Tower?")

    trace = the_trace()
    assert tree(trace) == QUERY_TREE
    assert_well_formed(trace)
    query = the_span("RetrieverQueryEngine.query")
    assert query.inputs == {"str_or_query_bundle": "Where is the Eiffel Tower?"}
    assert query.outputs["response"] == response.response
    assert [n["id"] for n in query.outputs["source_nodes"]] == [n.node_id for n in response.source_nodes]

    retrieved = the_span("VectorIndexRetriever.retrieve").outputs
    assert len(retrieved) == 2
    assert {n["text"] for n in retrieved} <= {d.text for d in DOCUMENTS}
    assert all(isinstance(n["score"], float) for n in retrieved)

    embedding = the_span("MockEmbedding.get_query_embedding")
    assert embedding.outputs == {"count": 1, "dimensions": 8}
    assert embedding.attributes["spanlog.llm.model"] == "unknown"

    llm = the_span("MockLLM.complete")
    assert llm.outputs == str(response)
    assert llm.attributes["spanlog.llm.provider"] == "mockllm"


def test_log_traces_false_makes_no_spans(mock_index: Any, mock_models: None) -> None:
    spanlog.llama_index.autolog(log_traces=False)
    mock_index.as_query_engine().query("Where is Big Ben?")
    assert spanlog.get_last_active_trace() is None

    spanlog.llama_index.autolog()  # on again without re-installing
    mock_index.as_query_engine().query("Where is Big Ben?")
    assert tree(the_trace()) == QUERY_TREE


def test_nesting_under_the_users_spans(mock_index: Any, mock_models: None, autolog: None) -> None:
    @spanlog.trace
    def lookup(city: str) -> str:
        return city.upper()

    tool = FunctionTool.from_defaults(fn=lambda city: lookup(city), name="lookup_city")

    @spanlog.trace(span_type="AGENT")
    def app(question: str) -> str:
        tool(city="paris")
        return str(mock_index.as_query_engine().query(question))

    app("Where is the Colosseum?")
    trace = the_trace()
    assert_well_formed(trace)
    lines = tree(trace).splitlines()
    assert lines[:3] == ["app [AGENT] OK", "  lookup_city [TOOL] OK", "    lookup [UNKNOWN] OK"]
    assert lines[3:] == ["  " + line for line in QUERY_TREE.splitlines()]
    assert the_span("lookup_city").outputs is not None


def test_streamed_query_stays_open_until_read(mock_index: Any, mock_models: None, autolog: None) -> None:
    response = mock_index.as_query_engine(streaming=True).query("Where is the Eiffel Tower?")
    assert spanlog.get_last_active_trace() is None  # nothing ends before the answer is read

    tokens = list(response.response_gen)

    trace = the_trace()
    assert tree(trace) == STREAMED_QUERY_TREE
    assert_well_formed(trace)
    assert the_span("RetrieverQueryEngine.query").outputs == "".join(tokens)
    assert the_span("CompactAndRefine.synthesize").outputs == "".join(tokens)
    llm = the_span("MockLLM.stream_complete")
    assert event_names(llm) == ["first_token"]
    assert set(llm.outputs.split()) == {"text"}  # MockLLM's reply, as its end event reports it


def test_streamed_query_closed_early_ends_every_span_once(
    mock_index: Any, mock_models: None, autolog: None, traces: Any
) -> None:
    response = mock_index.as_query_engine(streaming=True).query("Where is Rome?")
    gen = response.response_gen
    first = next(gen)
    assert spanlog.get_last_active_trace() is None
    gen.close()

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace).splitlines()[0] == "RetrieverQueryEngine.query [CHAIN] OK"
    assert the_span("RetrieverQueryEngine.query").outputs == first
    assert all(span.status.status_code.value == "OK" for span in trace.data.spans)
    gen.close()  # closing again changes nothing
    del response, gen
    gc.collect()
    assert len(traces.get_traces()) == 1


def test_streamed_query_dropped_unread_still_ends(
    mock_index: Any, mock_models: None, autolog: None, traces: Any
) -> None:
    response = mock_index.as_query_engine(streaming=True).query("Where is London?")
    assert spanlog.get_last_active_trace() is None
    del response
    gc.collect()

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace).splitlines()[0] == "RetrieverQueryEngine.query [CHAIN] OK"
    assert len(traces.get_traces()) == 1


def test_stream_that_fails_marks_its_spans(mock_index: Any, mock_models: None, autolog: None) -> None:
    from llama_index.core.llms import MockLLM

    class FailingStream(MockLLM):
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            def gen() -> Any:
                raise RuntimeError("stream broke")
                yield  # pragma: no cover

            return gen()

    engine = mock_index.as_query_engine(streaming=True, llm=FailingStream())
    response = engine.query("Where is Rome?")
    with pytest.raises(RuntimeError, match="stream broke"):
        list(response.response_gen)

    trace = the_trace()
    assert_well_formed(trace)
    assert the_span("CompactAndRefine.synthesize").status.status_code.value == "ERROR"
    assert the_span("RetrieverQueryEngine.query").status.status_code.value == "OK"


async def test_async_query_tree(mock_index: Any, mock_models: None, autolog: None) -> None:
    response = await mock_index.as_query_engine().aquery("Where is the Eiffel Tower?")
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "RetrieverQueryEngine.aquery [CHAIN] OK\n"
        "  VectorIndexRetriever.aretrieve [RETRIEVER] OK\n"
        "    MockEmbedding.aget_query_embedding [EMBEDDING] OK\n"
        "  CompactAndRefine.asynthesize [CHAIN] OK\n"
        "    CompactAndRefine.aget_response [CHAIN] OK\n"
        "      TokenTextSplitter.split_text [PARSER] OK\n"
        "      CompactAndRefine.aget_response [CHAIN] OK\n"
        "        TokenTextSplitter.split_text [PARSER] OK\n"
        "        MockLLM.apredict [CHAIN] OK\n"
        "          MockLLM.acomplete [LLM] OK"
    )
    assert the_span("MockLLM.acomplete").outputs == str(response)


async def test_async_streamed_query(mock_index: Any, mock_models: None, autolog: None) -> None:
    response = await mock_index.as_query_engine(streaming=True).aquery("Where is Big Ben?")
    assert spanlog.get_last_active_trace() is None
    tokens = [token async for token in response.async_response_gen()]

    trace = the_trace()
    assert_well_formed(trace)
    lines = tree(trace).splitlines()
    assert lines[0] == "RetrieverQueryEngine.aquery [CHAIN] OK"
    assert "    MockLLM.astream [CHAIN] OK" in lines
    assert the_span("RetrieverQueryEngine.aquery").outputs == "".join(tokens)


async def test_concurrent_async_queries_keep_their_trees(
    mock_index: Any, mock_models: None, autolog: None, traces: Any
) -> None:
    engine = mock_index.as_query_engine()
    await asyncio.gather(*(engine.aquery(q) for q in ("Paris?", "Rome?", "London?")))
    finished = traces.get_traces()
    assert len(finished) == 3
    for trace in finished:
        assert_well_formed(trace)
        assert len(trace.data.spans) == 10


def test_chat_engine_stream(mock_index: Any, mock_models: None, autolog: None) -> None:
    engine = mock_index.as_chat_engine(chat_mode="condense_plus_context")
    response = engine.stream_chat("Where is the Eiffel Tower?")
    tokens = list(response.response_gen)

    trace = the_trace()
    assert_well_formed(trace)
    lines = tree(trace).splitlines()
    assert lines[0] == "CondensePlusContextChatEngine.stream_chat [CHAIN] OK"
    assert "  VectorIndexRetriever.retrieve [RETRIEVER] OK" in lines
    assert any(line.strip() == "MockLLM.stream_complete [LLM] OK" for line in lines)
    assert "".join(tokens)


def test_exception_inside_a_tool(mock_models: None, autolog: None) -> None:
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    tool = FunctionTool.from_defaults(fn=divide)
    with pytest.raises(ZeroDivisionError):
        tool(a=1, b=0)

    span = the_span()
    assert (span.name, span.span_type) == ("divide", "TOOL")
    assert span.status.status_code.value == "ERROR"
    assert span.status.description == "ZeroDivisionError: division by zero"
    assert event_names(span) == ["exception"]
    assert span.inputs == {"a": 1, "b": 0}


async def test_workflow_tree(mock_models: None, autolog: None) -> None:
    from llama_index.core import Settings

    class Answer(Workflow):
        @step
        async def answer(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=str(await Settings.llm.acomplete(ev.question)))

    @spanlog.trace
    async def ask(question: str) -> str:
        return await Answer().run(question=question)

    await ask("Where is Rome?")
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "ask [UNKNOWN] OK\n"
        "  Answer.run [AGENT] OK\n"
        "    Answer.answer [CHAIN] OK\n"
        "      MockLLM.acomplete [LLM] OK"
    )


def test_a_failing_handler_never_reaches_the_user(
    mock_index: Any, mock_models: None, autolog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(value: Any) -> Any:
        raise TypeError("bug in spanlog")

    monkeypatch.setattr(extract, "outputs", broken)
    response = mock_index.as_query_engine().query("Where is the Eiffel Tower?")
    assert response.response  # the user's call went on
    errors = {k: v for k, v in spanlog.tracing.stats().items() if k.startswith("internal_error")}
    assert list(errors) == ["internal_error:llama_index: ending a span"]
    trace = the_trace()  # the spans still ended: one well-formed trace, without the outputs it failed on
    assert tree(trace) == QUERY_TREE
    assert_well_formed(trace)
    assert the_span("RetrieverQueryEngine.query").outputs is None
    state.reset_stats()  # seen: the autouse check would fail the test otherwise


def test_disable_restores_the_openai_llm_stream_builders() -> None:
    from llama_index.llms.openai import base

    originals = {name: vars(base.OpenAI)[name] for name in ("_stream_chat", "_astream_chat")}
    spanlog.llama_index.autolog()
    assert all(spanlog.plugins.is_patched(vars(base.OpenAI)[name]) for name in originals)
    spanlog.llama_index.autolog(disable=True)
    assert all(vars(base.OpenAI)[name] is original for name, original in originals.items())


def test_guide_llama_index_tab(mock_index: Any, mock_models: None, traces: Any) -> None:
    # tracing-guide.rst, "LlamaIndex" tab: one line, then LLMs, agents and query/chat engines are traced
    import spanlog

    spanlog.llama_index.autolog()

    from llama_index.core import Settings
    from llama_index.core.llms import ChatMessage

    Settings.llm.chat([ChatMessage(role="user", content="Hi")])
    mock_index.as_chat_engine(chat_mode="simple").chat("Hi")
    mock_index.as_query_engine().query("Hi")
    roots = [trace.data.spans[0] for trace in traces.get_traces()]
    assert [(s.name, s.span_type) for s in roots] == [
        ("MockLLM.chat", "CHAT_MODEL"),
        ("SimpleChatEngine.chat", "CHAIN"),
        ("RetrieverQueryEngine.query", "CHAIN"),
    ]
    chat = roots[0]
    assert chat.attributes["spanlog.chat.messages"][0] == {"role": "user", "content": "Hi"}
    assert chat.attributes["spanlog.chat.messages"][-1]["role"] == "assistant"


def test_openai_llm_imported_after_autolog_is_patched_on_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, spanlog; spanlog.llama_index.autolog(); "
        "assert 'llama_index.llms.openai' not in sys.modules; "
        "from llama_index.llms.openai import base; "
        "assert spanlog.plugins.is_patched(vars(base.OpenAI)['_stream_chat']); "
        "spanlog.llama_index.autolog(disable=True); "
        "assert not spanlog.plugins.is_patched(vars(base.OpenAI)['_stream_chat'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_reranker_span(mock_index: Any, mock_models: None, autolog: None) -> None:
    from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
    from llama_index.core.postprocessor.types import BaseNodePostprocessor

    dispatcher = get_dispatcher("tests.keep_best")

    class KeepBest(BaseNodePostprocessor):
        """Keeps the best-scored nodes, announcing it with the events LlamaIndex's rerankers send."""

        top_n: int = 1

        def _postprocess_nodes(self, nodes: list[Any], query_bundle: Any = None) -> list[Any]:
            dispatcher.event(
                ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=self.top_n, model_name="keep-best")
            )
            kept = sorted(nodes, key=lambda n: n.score or 0.0, reverse=True)[: self.top_n]
            dispatcher.event(ReRankEndEvent(nodes=kept))
            return kept

    engine = mock_index.as_query_engine(similarity_top_k=3, node_postprocessors=[KeepBest()])
    response = engine.query("Where is Big Ben?")

    trace = the_trace()
    assert_well_formed(trace)
    lines = tree(trace).splitlines()
    assert lines[:4] == [
        "RetrieverQueryEngine.query [CHAIN] OK",
        "  VectorIndexRetriever.retrieve [RETRIEVER] OK",
        "    MockEmbedding.get_query_embedding [EMBEDDING] OK",
        "  KeepBest._postprocess_nodes [RERANKER] OK",
    ]
    rerank = the_span("KeepBest._postprocess_nodes")
    assert rerank.attributes["reranker.model"] == "keep-best"
    assert rerank.attributes["reranker.top_n"] == 1
    assert len(rerank.inputs["nodes"]) == 3 and rerank.inputs["query_bundle"] == "Where is Big Ben?"
    assert [n["id"] for n in rerank.outputs] == [n.node_id for n in response.source_nodes]


async def test_async_chat_engine_stream(mock_index: Any, mock_models: None, autolog: None) -> None:
    engine = mock_index.as_chat_engine(chat_mode="condense_plus_context")
    response = await engine.astream_chat("Where is the Colosseum?")
    tokens = [token async for token in response.async_response_gen()]

    trace = the_trace()
    assert_well_formed(trace)
    lines = tree(trace).splitlines()
    assert lines[0] == "CondensePlusContextChatEngine.astream_chat [CHAIN] OK"
    assert "  VectorIndexRetriever.aretrieve [RETRIEVER] OK" in lines
    assert "    MockLLM.astream [CHAIN] OK" in lines
    assert "".join(tokens)
