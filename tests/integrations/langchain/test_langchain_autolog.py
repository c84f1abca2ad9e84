"""``spanlog.langchain.autolog()`` on LangChain's own fake models (no network): the span tree of every way of
running a chain, user callbacks, errors, retries, threads, LangGraph graphs, embeddings, and disabling."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, TypedDict

import pytest
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore

import spanlog
from spanlog.tracing import state

from langchain_helpers import RecordingHandler, parent_of, spans_named
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree

CHAIN_TREE = """\
RunnableSequence [CHAIN] OK
  ChatPromptTemplate [CHAIN] OK
  FakeListChatModel [CHAT_MODEL] OK
  StrOutputParser [PARSER] OK"""


def make_chain(reply: str = "a fake reply") -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{question}")])
    return prompt | FakeListChatModel(responses=[reply]) | StrOutputParser()


def assert_chain_spans(trace: Any, question: str, reply: str) -> None:
    assert tree(trace) == CHAIN_TREE
    assert_well_formed(trace)
    root, prompt, model, parser = trace.data.spans
    assert root.inputs == {"question": question}
    assert root.outputs == reply
    assert prompt.outputs == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    }
    assert model.inputs == prompt.outputs["messages"]
    assert model.outputs == {"role": "assistant", "content": reply}
    assert model.get_attribute("spanlog.chat.messages") == [
        *prompt.outputs["messages"],
        {"role": "assistant", "content": reply},
    ]
    assert parser.inputs == {"role": "assistant", "content": reply}
    assert parser.outputs == reply


def test_invoke_mirrors_the_run_tree(autolog: None) -> None:
    result = make_chain().invoke({"question": "why?"})

    assert result == "a fake reply"
    assert_chain_spans(the_trace(), "why?", "a fake reply")


def test_run_name_tags_and_metadata(autolog: None) -> None:
    config = {"run_name": "answer", "tags": ["prod"], "metadata": {"user_id": "u-1"}}
    make_chain().invoke({"question": "q"}, config=config)

    trace = the_trace()
    root = trace.data.spans[0]
    assert root.name == "answer"
    assert root.get_attribute("langchain.tags") == ["prod"]
    assert root.get_attribute("langchain.metadata") == {"user_id": "u-1"}
    assert trace.info.tags["prod"] == "true"
    assert trace.info.tags["user_id"] == "u-1"
    model = the_span("FakeListChatModel")
    assert model.get_attribute("langchain.tags") == ["seq:step:2", "prod"]
    assert model.get_attribute("langchain.metadata")["user_id"] == "u-1"


def test_batch_makes_one_trace_per_input(autolog: None, traces: Any) -> None:
    chain = make_chain()

    assert chain.batch([{"question": "a"}, {"question": "b"}]) == ["a fake reply", "a fake reply"]

    exported = traces.get_traces()
    assert len(exported) == 2
    assert sorted(t.data.spans[0].inputs["question"] for t in exported) == ["a", "b"]
    for trace in exported:
        assert_chain_spans(trace, trace.data.spans[0].inputs["question"], "a fake reply")


def test_stream_records_tokens_as_events(autolog: None) -> None:
    chunks = list(make_chain("abc").stream({"question": "s"}))

    assert "".join(chunks) == "abc"
    trace = the_trace()
    assert_chain_spans(trace, "s", "abc")
    model = the_span("FakeListChatModel")
    names = event_names(model)
    assert names[0] == "first_token"
    tokens = [e.attributes["token"] for e in model.events if e.name == "new_token"]
    assert "".join(tokens) == "abc"


def test_token_events_are_capped(autolog: None) -> None:
    spanlog.langchain.autolog(max_token_events=2)

    list(make_chain("abcdef").stream({"question": "s"}))

    assert event_names(the_span("FakeListChatModel")) == ["first_token", "new_token", "new_token"]


async def test_ainvoke_abatch_astream(autolog: None, traces: Any) -> None:
    chain = make_chain()

    assert await chain.ainvoke({"question": "x"}) == "a fake reply"
    assert_chain_spans(the_trace(), "x", "a fake reply")

    assert await chain.abatch([{"question": "y"}, {"question": "z"}]) == ["a fake reply"] * 2
    assert [c async for c in chain.astream({"question": "w"})]
    assert_chain_spans(the_trace(), "w", "a fake reply")
    assert len(traces.get_traces()) == 4


async def test_astream_events(autolog: None) -> None:
    kinds = {event["event"] async for event in make_chain().astream_events({"question": "e"})}

    assert "on_chat_model_stream" in kinds
    assert_chain_spans(the_trace(), "e", "a fake reply")


async def test_concurrent_async_runs_stay_in_their_own_traces(autolog: None, traces: Any) -> None:
    chain = make_chain()

    async def traced(question: str) -> str:
        with spanlog.start_span(f"user-{question}"):
            return await chain.ainvoke({"question": question})

    await asyncio.gather(*(traced(q) for q in "abc"))

    exported = traces.get_traces()
    assert len(exported) == 3
    for trace in exported:
        root = trace.data.spans[0]
        question = root.name.removeprefix("user-")
        chain_span = trace.data.spans[1]
        assert (chain_span.name, parent_of(chain_span, trace).name) == ("RunnableSequence", root.name)
        assert spans_named("RunnableSequence", trace)[0].inputs == {"question": question}


def test_runs_nest_under_the_active_span(autolog: None) -> None:
    @spanlog.trace
    def handle(question: str) -> str:
        return make_chain().invoke({"question": question})

    handle("n")

    trace = the_trace()
    assert tree(trace).splitlines()[:2] == ["handle [UNKNOWN] OK", "  RunnableSequence [CHAIN] OK"]
    assert_well_formed(trace)


def test_spans_started_inside_a_runnable_nest_under_its_span(autolog: None) -> None:
    @spanlog.trace(name="helper")
    def helper(text: str) -> str:
        return text.upper()

    chain = make_chain("r") | RunnableLambda(lambda text: helper(text), name="shout")

    assert chain.invoke({"question": "q"}) == "R"
    trace = the_trace()
    assert parent_of(the_span("helper")).name == "shout"
    assert parent_of(the_span("shout")).name == "RunnableSequence"
    assert_well_formed(trace)


def test_parallel_branches_in_langchain_threads_stay_in_the_tree(autolog: None) -> None:
    chain = RunnableParallel(
        first=RunnableLambda(lambda x: x + 1, name="first"),
        second=RunnableLambda(lambda x: x * 2, name="second"),
    )

    assert chain.invoke(3) == {"first": 4, "second": 6}
    trace = the_trace()
    assert_well_formed(trace)
    root = trace.data.spans[0]
    assert root.name == "RunnableParallel<first,second>"
    assert {s.name for s in trace.data.spans if s.parent_id == root.span_id} == {"first", "second"}


def test_runs_in_a_thread_the_user_started_are_traced(autolog: None, traces: Any) -> None:
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(make_chain().invoke({"question": "t"})))
    worker.start()
    worker.join()

    assert results == ["a fake reply"]
    assert_chain_spans(traces.get_traces()[-1], "t", "a fake reply")


def test_completion_llm_span(autolog: None) -> None:
    chain = ChatPromptTemplate.from_template("say {word}") | FakeListLLM(responses=["said"])

    assert chain.invoke({"word": "hi"}) == "said"
    llm = the_span("FakeListLLM")
    assert llm.span_type == "LLM"
    assert llm.inputs == "Human: say hi"
    assert llm.outputs == "said"


def test_user_callbacks_are_still_called_and_runs_traced_once(autolog: None) -> None:
    handler = RecordingHandler()

    make_chain().invoke({"question": "c"}, config={"callbacks": [handler]})

    assert handler.events == [
        "chain_start:RunnableSequence",
        "chain_start:ChatPromptTemplate",
        "chain_end",
        "chat_model_start",
        "llm_end",
        "chain_start:StrOutputParser",
        "chain_end",
        "chain_end",
    ]
    assert_chain_spans(the_trace(), "c", "a fake reply")


def test_exception_inside_a_tool(autolog: None) -> None:
    @tool
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    handler = RecordingHandler()
    chain = RunnableLambda(lambda args: divide.invoke(args), name="calculate")
    with pytest.raises(ZeroDivisionError):
        chain.invoke({"a": 1, "b": 0}, config={"callbacks": [handler]})

    assert "tool_error:ZeroDivisionError" in handler.events
    trace = the_trace()
    assert tree(trace) == (
        "calculate [CHAIN] ERROR (ZeroDivisionError: division by zero)\n"
        "  divide [TOOL] ERROR (ZeroDivisionError: division by zero)"
    )
    span = the_span("divide")
    assert span.inputs == {"a": 1, "b": 0}
    assert event_names(span) == ["exception"]
    assert span.get_attribute("langchain.tool.description") == "Divide a by b."


def test_tool_span(autolog: None) -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    assert add.invoke({"a": 2, "b": 3}) == 5
    span = the_span()
    assert (span.name, span.span_type, span.inputs, span.outputs) == ("add", "TOOL", {"a": 2, "b": 3}, 5)


def test_retries_become_events(autolog: None) -> None:
    calls = {"n": 0}

    def flaky(x: int) -> int:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError(f"attempt {calls['n']} failed")
        return x

    runnable = RunnableLambda(flaky).with_retry(stop_after_attempt=3, wait_exponential_jitter=False)

    assert runnable.invoke(7) == 7
    root = the_trace().data.spans[0]
    assert [(e.name, e.attributes["attempt"]) for e in root.events] == [("retry", 2), ("retry", 3)]
    assert root.events[0].attributes["exception"] == "ConnectionError: attempt 1 failed"
    assert [s.status.status_code for s in the_trace().data.spans[1:]] == ["ERROR", "ERROR", "OK"]


def test_langgraph_graph_is_an_agent_span(autolog: None) -> None:
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        count: int

    graph = StateGraph(State)
    graph.add_node("increment", lambda s: {"count": s["count"] + 1})
    graph.add_node("double", lambda s: {"count": s["count"] * 2})
    graph.add_edge(START, "increment")
    graph.add_edge("increment", "double")
    graph.add_edge("double", END)

    assert graph.compile().invoke({"count": 1}) == {"count": 4}
    trace = the_trace()
    assert tree(trace) == "LangGraph [AGENT] OK\n  increment [CHAIN] OK\n  double [CHAIN] OK"
    assert trace.data.spans[0].inputs == {"count": 1}
    assert trace.data.spans[0].outputs == {"count": 4}
    assert_well_formed(trace)


def test_retriever_and_embeddings(autolog: None) -> None:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=8))
    store.add_documents([Document("cats purr"), Document("dogs bark")])
    retriever = store.as_retriever(search_kwargs={"k": 1})

    docs = retriever.invoke("cats purr")

    assert len(docs) == 1
    trace = the_trace()
    assert tree(trace) == (
        "VectorStoreRetriever [RETRIEVER] OK\n  DeterministicFakeEmbedding.embed_query [EMBEDDING] OK"
    )
    retriever_span = trace.data.spans[0]
    assert retriever_span.inputs == "cats purr"
    assert retriever_span.outputs == [
        {"page_content": docs[0].page_content, "metadata": {}, "id": docs[0].id}
    ]
    assert trace.data.spans[1].inputs == {"text": "cats purr"}
    assert trace.data.spans[1].outputs == {"dimensions": 8}


def test_compressor_defined_after_autolog_is_a_reranker(autolog: None) -> None:
    class KeepFirst(BaseDocumentCompressor):
        def compress_documents(self, documents: Any, query: str, callbacks: Any = None) -> Any:
            return list(documents)[:1]

    kept = KeepFirst().compress_documents([Document("a"), Document("b")], "which?")

    assert [d.page_content for d in kept] == ["a"]
    span = the_span()
    assert (span.name, span.span_type) == ("KeepFirst.compress_documents", "RERANKER")
    assert span.inputs["query"] == "which?"
    assert span.outputs == [{"page_content": "a", "metadata": {}}]


def test_model_logging_options_are_accepted_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    from spanlog_langchain import patch

    patch._model_logging_noted = False
    with caplog.at_level(logging.WARNING, logger="spanlog.langchain"):
        spanlog.langchain.autolog(log_models=True, log_input_examples=True)
        spanlog.langchain.autolog(disable=True)
        spanlog.langchain.autolog(log_models=True, log_input_examples=True)
    notes = [r.getMessage() for r in caplog.records if "does not log models" in r.getMessage()]
    assert len(notes) == 1
    assert "log_models=True, log_input_examples=True" in notes[0]
    make_chain().invoke({"question": "still traced"})
    assert_chain_spans(the_trace(), "still traced", "a fake reply")


def test_disable_removes_the_handler(autolog: None, traces: Any) -> None:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.tracers.context import _configure_hooks
    from spanlog_langchain.patch import SLOT

    assert any(hook[0] is SLOT for hook in _configure_hooks)
    spanlog.langchain.autolog(disable=True)

    assert not any(hook[0] is SLOT for hook in _configure_hooks)
    assert not spanlog.plugins.is_patched(vars(BaseChatModel)["_generate_with_cache"])
    assert not spanlog.plugins.is_patched(vars(DeterministicFakeEmbedding)["embed_query"])
    assert "__init_subclass__" not in vars(BaseDocumentCompressor)  # new subclasses are left alone
    handler = RecordingHandler()
    assert make_chain().invoke({"question": "off"}, config={"callbacks": [handler]}) == "a fake reply"
    assert traces.get_traces() == []
    assert handler.events[0] == "chain_start:RunnableSequence"  # the user's handlers still run

    spanlog.langchain.autolog()
    make_chain().invoke({"question": "on again"})
    assert_chain_spans(the_trace(), "on again", "a fake reply")


def test_log_traces_false_makes_no_spans(traces: Any) -> None:
    spanlog.langchain.autolog(log_traces=False)

    assert make_chain().invoke({"question": "quiet"}) == "a fake reply"
    assert traces.get_traces() == []


def test_a_failure_inside_the_handler_never_reaches_the_user(
    autolog: None, monkeypatch: pytest.MonkeyPatch, traces: Any
) -> None:
    from spanlog_langchain import handler as handler_module

    monkeypatch.setattr(state.STATE, "testing", False)
    monkeypatch.setattr(handler_module.render, "plain", lambda value: 1 / 0)
    spanlog.langchain.autolog(disable=True)
    spanlog.langchain.autolog()  # a handler built outside testing mode: it swallows its failures

    assert make_chain().invoke({"question": "still works"}) == "a fake reply"
    failures = {k: v for k, v in spanlog.tracing.stats().items() if "langchain: callback" in k}
    assert failures, spanlog.tracing.stats()


def _canned_openai(request: Any) -> Any:
    """An OpenAI-compatible server in process: a canned chat completion or stream (no network)."""
    import json

    import httpx

    body = json.loads(request.content)
    created = {"id": "c1", "created": 1, "model": "canned-model", "system_fingerprint": None}
    if body.get("stream"):
        chunks = [
            {
                **created,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            for delta, finish in (
                ({"role": "assistant", "content": "hel"}, None),
                ({"content": "lo"}, "stop"),
            )
        ]
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, content=text.encode(), headers={"content-type": "text/event-stream"})
    completion = {
        **created,
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    return httpx.Response(200, json=completion)


async def test_chat_openai_under_both_autologs_is_one_span(autolog: None) -> None:
    import httpx
    from langchain_openai import ChatOpenAI

    spanlog.openai.autolog()
    transport = httpx.MockTransport(_canned_openai)
    model = ChatOpenAI(
        model="canned-model",
        api_key="sk-test",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
    )

    assert model.invoke("hi").content == "hello"
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"
    span = the_span()
    assert span.get_attribute("spanlog.llm.provider") == "openai"
    assert span.get_attribute("spanlog.chat.tokenUsage") == {
        "input_tokens": 5,
        "output_tokens": 1,
        "total_tokens": 6,
    }
    assert the_trace().info.token_usage == {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}

    assert "".join(c.content for c in model.stream("hi")) == "hello"
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"
    assert (await model.ainvoke("hi")).content == "hello"
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"
    assert [c.content async for c in model.astream("hi")][:2] == ["hel", "lo"]
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"

    # without the LangChain integration the OpenAI integration's span is the model span
    spanlog.langchain.autolog(disable=True)
    model.invoke("hi")
    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"


def test_custom_events_become_span_events(autolog: None) -> None:
    from langchain_core.callbacks.manager import dispatch_custom_event

    def step(text: str) -> str:
        dispatch_custom_event("progress", {"done": 1, "of": 2})
        return text.upper()

    assert RunnableLambda(step).invoke("hi") == "HI"
    span = the_span()
    assert event_names(span) == ["progress"]
    assert span.events[0].attributes == {"data": {"done": 1, "of": 2}}


def test_agent_actions_model_retries_become_events(autolog: None) -> None:
    # what LangChain's legacy agent executors and retrying model clients report through the run manager
    import tenacity
    from langchain_core.agents import AgentAction, AgentFinish
    from langchain_core.callbacks import CallbackManager

    manager = CallbackManager.configure()  # autolog's configure hook adds the spanlog handler
    run = manager.on_chain_start({"name": "AgentExecutor"}, {"input": "2 + 2?"}, name="AgentExecutor")
    run.on_agent_action(AgentAction(tool="calculator", tool_input={"expression": "2 + 2"}, log=""))
    state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = 2
    state.set_exception((TimeoutError, TimeoutError("slow"), None))
    run.on_retry(state)
    run.on_agent_finish(AgentFinish(return_values={"output": "4"}, log=""))
    run.on_chain_end({"output": "4"})

    span = the_span()
    assert span.name == "AgentExecutor" and event_names(span) == ["agent_action", "retry", "agent_finish"]
    action, retry, finish = span.events
    assert action.attributes == {"tool": "calculator", "tool_input": {"expression": "2 + 2"}}
    assert retry.attributes == {"attempt": 2, "exception": "TimeoutError: slow"}
    assert finish.attributes == {"return_values": {"output": "4"}}
    assert span.outputs == {"output": "4"}
