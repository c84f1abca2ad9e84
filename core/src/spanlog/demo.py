"""The demo: a small question-answering app, traced with spanlog, whose trace trees are printed.

It needs no network and no API key: the "model" and the "vector store" are a few lines of Python, so what
you see is spanlog itself: span types, nesting across sync, async and streamed code, inputs and outputs,
an error captured in its span, and the timing of every step.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import spanlog
from spanlog.entities import SpanType

DOCUMENTS = {
    "doc-1": "spanlog records every call of a traced function as a span with its inputs and outputs.",
    "doc-2": "Spans nest by the call stack, across async code, generators and threads.",
    "doc-3": "A failed call is kept too: the span is ERROR and carries the exception and its stack trace.",
}


@spanlog.trace(span_type=SpanType.EMBEDDING)
def embed(text: str) -> list[float]:
    """A toy embedding: letter frequencies."""
    letters = [c for c in text.lower() if c.isalpha()]
    return [letters.count(c) / max(len(letters), 1) for c in "etaoinshr"]


@spanlog.trace(span_type=SpanType.RETRIEVER)
def retrieve(question: str, k: int = 2) -> list[dict[str, Any]]:
    """Rank the documents by word overlap with the question."""
    embed(question)
    words = set(re.findall(r"\w+", question.lower()))
    scored = [
        {"id": doc_id, "score": len(words & set(re.findall(r"\w+", text.lower()))), "text": text}
        for doc_id, text in DOCUMENTS.items()
    ]
    scored.sort(key=_score, reverse=True)
    return scored[:k]


def _score(doc: dict[str, Any]) -> int:
    return int(doc["score"])


@spanlog.trace(span_type=SpanType.CHAT_MODEL, attributes={"model": "toy-echo-1"})
def chat_model(messages: list[dict[str, str]]) -> Iterator[str]:
    """A "model" that streams back the first sentence of its context, word by word."""
    context = messages[0]["content"]
    for word in context.split()[:12]:
        time.sleep(0.0005)
        yield word + " "


@spanlog.trace(span_type=SpanType.TOOL)
async def lookup_tool(topic: str) -> dict[str, Any]:
    """An async tool; several run concurrently under one agent span."""
    await asyncio.sleep(0.001)
    if topic == "weather":
        raise LookupError(f"no tool knows about {topic!r}")
    return {"topic": topic, "found": topic in " ".join(DOCUMENTS.values()).lower()}


@spanlog.trace(span_type=SpanType.AGENT)
async def agent(topics: list[str]) -> list[Any]:
    """Run the tools concurrently; a failing tool is recorded and its error returned, not raised."""
    results = await asyncio.gather(*(lookup_tool(t) for t in topics), return_exceptions=True)
    return [r if not isinstance(r, BaseException) else f"{type(r).__name__}: {r}" for r in results]


@spanlog.trace(name="answer_question", span_type=SpanType.CHAIN)
def answer(question: str) -> str:
    """Retrieve, prompt, stream the answer, then let the agent check some facts."""
    docs = retrieve(question)
    with spanlog.start_span("build_prompt", span_type="PROMPT") as span:
        span.set_inputs({"documents": [d["id"] for d in docs]})
        prompt = " ".join(d["text"] for d in docs)
        span.set_outputs(prompt)
    reply = "".join(
        chat_model([{"role": "system", "content": prompt}, {"role": "user", "content": question}])
    )
    spanlog.update_current_trace(tags={"app": "demo"})
    asyncio.run(agent(["spans", "weather"]))
    return reply.strip()


def main() -> int:
    """Answer two questions and print their traces."""
    from spanlog.tracing.render import render_trace

    spanlog.set_experiment("spanlog demo")
    for question in ("How do spans nest?", "What happens to a failed call?"):
        reply = answer(question)
        trace = spanlog.get_last_active_trace()
        assert trace is not None
        info = trace.info
        print(f"\nQ: {question}\nA: {reply}")
        print(
            f"trace {info.request_id}  experiment {info.experiment_id}  status {info.status.value}  "
            f"{len(trace.data.spans)} spans  {(trace.data.spans[0].end_time_ns - trace.data.spans[0].start_time_ns) / 1e6:.2f} ms"  # type: ignore[operator]
        )
        print(render_trace(trace, io=True, width=90))
    spanlog.flush_trace_async_logging()
    stored = spanlog.search_traces(filter_string="tags.app = 'demo'", return_type="list")
    print(f"\n{len(stored)} demo traces are stored in {spanlog.get_tracking_uri()}. Search them with")
    print("  spanlog traces search --filter \"span.type = 'TOOL' AND span.status = 'ERROR'\"")
    print(f"  spanlog traces get {stored[0].info.request_id if stored else '<request_id>'}")
    print("or from Python: spanlog.search_traces(filter_string=\"tags.app = 'demo'\")")
    return 0
