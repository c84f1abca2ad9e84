"""LangChain apps against a real model (replayed from cassettes): an LCEL chain with a parser, a retrieval
chain over an in-memory vector store with the model's embeddings, a LangGraph tool-calling agent, streaming
and async runs, and ``ChatOpenAI`` under both the LangChain and the OpenAI autolog. The model is a tiny base
model: the tests assert the tree and the recorded structure, never the reply text."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import spanlog

from cassettes import MODEL_NAME
from langchain_helpers import parent_of
from tree_helpers import assert_well_formed, event_names, the_span, the_trace, tree

QUESTION = {"question": "What is the capital of France?"}


def chain_of(chat_model: Any) -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one short sentence."), ("user", "{question}")]
    )
    return prompt | chat_model | StrOutputParser()


def assert_chat_span(span: Any, *, n_input_messages: int, streamed: bool = False) -> None:
    """The normalized attributes of a CHAT_MODEL span of the local model (docs/schema.md, Model calls)."""
    assert span.span_type == "CHAT_MODEL"
    assert span.get_attribute("spanlog.llm.provider") == "local"
    assert span.get_attribute("spanlog.llm.model")
    messages = span.get_attribute("spanlog.chat.messages")
    assert len(messages) == n_input_messages + 1
    assert messages[:n_input_messages] == span.inputs
    assert messages[-1]["role"] == "assistant"
    assert span.outputs["role"] == "assistant"
    assert span.get_attribute("spanlog.llm.finishReason") in ("stop", "length", "tool_calls")
    if streamed:
        assert event_names(span)[0] == "first_token"
        assert "new_token" in event_names(span)
    else:
        usage = span.get_attribute("spanlog.chat.tokenUsage")
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


LCEL_TREE = """\
RunnableSequence [CHAIN] OK
  ChatPromptTemplate [CHAIN] OK
  ChatOpenAI [CHAT_MODEL] OK
  StrOutputParser [PARSER] OK"""


def test_lcel_chain_with_parser(chat_model: Any) -> None:
    answer = chain_of(chat_model).invoke(QUESTION)

    trace = the_trace()
    assert tree(trace) == LCEL_TREE
    assert_well_formed(trace)
    root, prompt, model, parser = trace.data.spans
    assert (root.inputs, root.outputs) == (QUESTION, answer)
    assert prompt.outputs["messages"][1] == {"role": "user", "content": QUESTION["question"]}
    assert_chat_span(model, n_input_messages=2)
    assert model.get_attribute("langchain.invocation_params")["model"] == MODEL_NAME
    assert parser.outputs == answer
    assert trace.info.token_usage == model.get_attribute("spanlog.chat.tokenUsage")


def test_stream_chain(chat_model: Any) -> None:
    chunks = list(chain_of(chat_model).stream(QUESTION))

    trace = the_trace()
    assert tree(trace) == LCEL_TREE
    assert_well_formed(trace)
    assert trace.data.spans[0].outputs == "".join(chunks)
    assert_chat_span(the_span("ChatOpenAI"), n_input_messages=2, streamed=True)


def test_batch_chain(chat_model: Any, traces: Any) -> None:
    questions = [{"question": "Name a color."}, {"question": "Name a fruit."}]
    chain_of(chat_model).batch(questions, config={"max_concurrency": 1})

    exported = traces.get_traces()
    assert len(exported) == 2
    assert sorted(t.data.spans[0].inputs["question"] for t in exported) == sorted(
        q["question"] for q in questions
    )
    for trace in exported:
        assert tree(trace) == LCEL_TREE
        assert_chat_span(trace.data.spans[2], n_input_messages=2)


async def test_async_chain(chat_model: Any, traces: Any) -> None:
    chain = chain_of(chat_model)

    answer = await chain.ainvoke(QUESTION)
    assert tree(the_trace()) == LCEL_TREE
    assert the_trace().data.spans[0].outputs == answer
    assert_chat_span(the_span("ChatOpenAI"), n_input_messages=2)

    chunks = [chunk async for chunk in chain.astream({"question": "Name a planet."})]
    assert tree(the_trace()) == LCEL_TREE
    assert the_trace().data.spans[0].outputs == "".join(chunks)
    assert_chat_span(the_span("ChatOpenAI"), n_input_messages=2, streamed=True)

    events = [e["event"] async for e in chain.astream_events({"question": "Name a river."})]
    assert "on_chat_model_stream" in events
    assert tree(the_trace()) == LCEL_TREE

    await chain.abatch([{"question": "Name a color."}, {"question": "Name a fruit."}])
    assert len(traces.get_traces()) == 5


@pytest.mark.needs_embedding_server
def test_retrieval_chain(chat_model: Any, embeddings: Any) -> None:
    store = InMemoryVectorStore(embeddings)
    store.add_documents(
        [
            Document("Paris is the capital of France.", id="paris"),
            Document("Berlin is the capital of Germany.", id="berlin"),
            Document("Bananas are yellow.", id="bananas"),
        ]
    )
    retriever = store.as_retriever(search_kwargs={"k": 2})
    prompt = ChatPromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")

    def join_documents(docs: list[Document]) -> str:
        return "\n".join(doc.page_content for doc in docs)

    chain = (
        {"context": retriever | RunnableLambda(join_documents), "question": RunnablePassthrough()}
        | prompt
        | chat_model
        | StrOutputParser()
    )
    chain.invoke("What is the capital of France?")

    trace = the_trace()
    assert tree(trace) == (
        "RunnableSequence [CHAIN] OK\n"
        "  RunnableParallel<context,question> [CHAIN] OK\n"
        "    RunnableSequence [CHAIN] OK\n"
        "      VectorStoreRetriever [RETRIEVER] OK\n"
        "        OpenAIEmbeddings.embed_query [EMBEDDING] OK\n"
        "      join_documents [CHAIN] OK\n"
        "    RunnablePassthrough [CHAIN] OK\n"
        "  ChatPromptTemplate [CHAIN] OK\n"
        "  ChatOpenAI [CHAT_MODEL] OK\n"
        "  StrOutputParser [PARSER] OK"
    )
    assert_well_formed(trace)
    retrieved = the_span("VectorStoreRetriever")
    assert retrieved.inputs == "What is the capital of France?"
    assert len(retrieved.outputs) == 2
    assert {doc["id"] for doc in retrieved.outputs} <= {"paris", "berlin", "bananas"}
    assert all(set(doc) == {"page_content", "metadata", "id"} for doc in retrieved.outputs)
    embedding = the_span("OpenAIEmbeddings.embed_query")
    assert embedding.inputs == {"text": "What is the capital of France?"}
    assert embedding.outputs["dimensions"] > 0
    assert embedding.get_attribute("spanlog.llm.provider") == "local"
    assert_chat_span(the_span("ChatOpenAI"), n_input_messages=1)


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def build_agent(chat_model: Any) -> Any:
    """A LangGraph tool-calling agent: the model is made to call ``multiply`` (the tiny model rarely picks a
    tool by itself), the tool runs, and the model answers from the tool's result."""
    calling = chat_model.bind_tools([multiply], tool_choice="multiply")
    answering = chat_model.bind_tools([multiply])

    def agent(state: MessagesState) -> dict[str, Any]:
        last = state["messages"][-1]
        model = answering if isinstance(last, ToolMessage) else calling
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return tools_condition(state) if isinstance(last, AIMessage) and last.tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([multiply]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile(name="multiplier_agent")


def test_tool_calling_agent(chat_model: Any) -> None:
    agent = build_agent(chat_model)

    result = agent.invoke({"messages": [("user", "What is 6 times 7?")]})

    trace = the_trace()
    assert_well_formed(trace)
    # the model is made to call the tool, the tool runs, the model answers: route is the conditional edge
    assert tree(trace) == (
        "multiplier_agent [AGENT] OK\n"
        "  agent [CHAIN] OK\n"
        "    ChatOpenAI [CHAT_MODEL] OK\n"
        "    route [CHAIN] OK\n"
        "  tools [CHAIN] OK\n"
        "    multiply [TOOL] OK\n"
        "  agent [CHAIN] OK\n"
        "    ChatOpenAI [CHAT_MODEL] OK\n"
        "    route [CHAIN] OK"
    )
    assert trace.data.spans[0].inputs == {"messages": [["user", "What is 6 times 7?"]]}  # as given
    output_roles = [m["role"] for m in trace.data.spans[0].outputs["messages"]]
    assert output_roles == ["user", "assistant", "tool", "assistant"]
    calls = [s for s in trace.data.spans if s.name == "ChatOpenAI"]
    tool_calls = calls[0].get_attribute("spanlog.chat.toolCalls")
    assert tool_calls[0]["function"]["name"] == "multiply"
    assert calls[0].get_attribute("spanlog.chat.tools")[0]["function"]["name"] == "multiply"
    tool_span = the_span("multiply")
    assert parent_of(tool_span).name == "tools"
    assert tool_span.outputs["role"] == "tool"
    assert tool_span.outputs["tool_call_id"] == tool_calls[0]["id"]
    # the second model call sees the tool's result, as the graph's final state does
    assert calls[1].inputs[-1]["role"] == "tool"
    assert isinstance(result["messages"][2], ToolMessage)


async def test_openai_and_langchain_autolog_make_one_chat_span(chat_model: Any) -> None:
    spanlog.openai.autolog()

    chat_model.invoke("Say hello.")
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"
    assert_chat_span(the_span(), n_input_messages=1)

    list(chat_model.stream("Say hello."))
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"
    assert_chat_span(the_span(), n_input_messages=1, streamed=True)

    await chat_model.ainvoke("Say hello.")
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"

    chunks = [chunk async for chunk in chat_model.astream("Say hello.")]
    assert chunks
    assert tree(the_trace()) == "ChatOpenAI [CHAT_MODEL] OK"

    chain_of(chat_model).invoke(QUESTION)
    assert tree(the_trace()) == LCEL_TREE

    # the OpenAI integration itself still traces direct SDK calls
    chat_model.root_client.chat.completions.create(
        model=MODEL_NAME, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0
    )
    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"
