"""What the user's thread does, and what it leaves for later: a call's response and a stream's bytes are
recorded after the call (``span.defer``), from copies of the arguments, without holding the SDK's chunk
objects; the server-sent events are parsed again from the bytes the SDK read.

These tests drive the real SDK through an in-process transport (a canned completion or event stream), since
what they check is the mechanics around the call, not a model's traffic (the cassette tests cover that).
"""

from __future__ import annotations

import gc
import json
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from tree_helpers import event_names, the_span

openai = pytest.importorskip("openai")

import openai._base_client as _base_client  # noqa: E402
from spanlog_openai import calls, streams  # noqa: E402

httpx = getattr(_base_client, "httpx2", None) or _base_client.httpx  # what this openai version sends through

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}
    ],
    "usage": USAGE,
}
PIECES = ["Hi", " there", ",", " friend"]


def _chunk(delta: Any, finish: Any = None, usage: Any = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        data["usage"] = usage
    return data


CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    *[_chunk({"content": piece}) for piece in PIECES],
    _chunk({}, finish="stop"),
    _chunk(None, usage=USAGE),
]


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _client(split: int | None = None) -> Any:
    """A client whose server answers with ``COMPLETION``, or with ``CHUNKS`` as server-sent events (sent in
    pieces of ``split`` bytes when given, as a network would)."""
    body = _sse(CHUNKS)

    def pieces() -> Iterator[bytes]:
        step = split or len(body)
        for start in range(0, len(body), step):
            yield body[start : start + step]

    def handler(request: Any) -> Any:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=pieces(), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=COMPLETION)

    return openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


@pytest.fixture
def autolog() -> Iterator[None]:
    spanlog.openai.autolog()
    yield


def test_a_conversation_list_changed_after_the_call_is_recorded_as_it_was(autolog: None) -> None:
    """A chat loop appends the reply to the list it passed: the span keeps the messages that were sent."""
    messages: list[Any] = [{"role": "user", "content": "Hello"}]
    response = _client().chat.completions.create(model="m", messages=messages)
    messages.append(response.choices[0].message)
    messages.append({"role": "user", "content": "And again"})

    span = the_span()
    assert span.inputs == {"model": "m", "messages": [{"role": "user", "content": "Hello"}]}
    assert span.get_attribute(Key.CHAT_MESSAGES) == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there"},
    ]


def test_the_response_is_recorded_on_the_store_writers_thread(
    autolog: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a store, the caller's thread only ends the span: the response is recorded by the writer."""
    from spanlog.export import set_exporter

    threads: list[int] = []
    record_later = calls._record_later

    def watched(*args: Any) -> None:
        threads.append(threading.get_ident())
        record_later(*args)

    monkeypatch.setattr(calls, "_record_later", watched)
    spanlog.set_tracking_uri(f"sqlite:///{tmp_path / 'traces.db'}")
    set_exporter(None)  # the default exporter: the store's
    try:
        _client().chat.completions.create(model="m", messages=[{"role": "user", "content": "Hello"}])
        spanlog.flush_trace_async_logging()  # (reading the last trace here would record it on this thread)
        assert threads and threads[0] != threading.get_ident()
        (found,) = spanlog.SpanlogClient().search_traces(experiment_ids=["0"])
        trace = spanlog.SpanlogClient().get_trace(found.info.request_id)
        assert trace.info.token_usage == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
        span = trace.data.spans[0]
        assert span.outputs["choices"][0]["message"]["content"] == "Hi there"
        assert span.get_attribute(Key.FINISH_REASON) == "stop"
    finally:
        set_exporter(None)
        spanlog.config.reset()


@pytest.mark.parametrize("split", [None, 7], ids=["one read", "7-byte reads"])
def test_a_stream_is_reassembled_from_the_bytes_the_sdk_read(autolog: None, split: int | None) -> None:
    """The outputs are the whole completion, however the bytes arrived; first_token is stamped."""
    stream = _client(split).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hello"}], stream=True
    )
    assert isinstance(stream._decoder, streams.ByteTap)
    contents = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert contents == PIECES

    span = the_span()
    assert span.outputs["choices"][0]["message"] == {"role": "assistant", "content": "Hi there, friend"}
    assert span.outputs["usage"] == USAGE
    assert span.get_attribute(Key.TOKEN_USAGE) == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    assert event_names(span) == ["first_token"]
    assert span.events[0].attributes == {"index": 1}
    assert span.start_time_ns <= span.events[0].timestamp <= span.end_time_ns


def test_a_stream_left_early_keeps_what_the_user_read(autolog: None) -> None:
    """All the bytes had arrived, but the user read two items: the outputs hold those two."""
    stream = _client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    for index, _ in enumerate(stream):
        if index == 1:
            break
    stream.close()

    span = the_span()
    assert span.outputs["choices"][0]["message"]["content"] == "Hi"
    assert span.events[-1].name == "stream_closed_early" and span.events[-1].attributes["items"] == 2


def test_the_sdks_chunk_objects_are_not_kept_alive(autolog: None) -> None:
    """Only bytes are kept until the span is recorded: the chunks the user dropped are freed at once."""
    stream = _client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    refs = [weakref.ref(chunk) for chunk in stream]
    del stream
    gc.collect()
    assert refs and all(ref() is None for ref in refs)
    # the trace is recorded afterwards all the same
    assert the_span().outputs["choices"][0]["message"]["content"] == "Hi there, friend"


def test_a_stream_without_a_decoder_is_collected_instead(
    autolog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the byte tap cannot stand in (another SDK layout), the proxy collects the items themselves."""
    monkeypatch.setattr(streams, "tap", lambda stream: None)
    stream = _client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert not isinstance(stream._decoder, streams.ByteTap)
    for _ in stream:
        pass
    span = the_span()
    assert span.outputs["choices"][0]["message"]["content"] == "Hi there, friend"
    assert span.get_attribute(Key.TOKEN_USAGE)["total_tokens"] == 10
    assert event_names(span) == ["first_token"]


def test_the_sdk_streams_iterate_their_inner_generator() -> None:
    """What the proxy relies on to skip a layer: ``Stream.__iter__`` and ``AsyncStream.__aiter__`` only hand
    on ``_iterator`` (true of every supported openai version: this runs against each)."""
    import asyncio

    stream = object.__new__(openai.Stream)
    stream._iterator = iter(["a", "b"])
    assert list(stream) == ["a", "b"]

    async def items() -> Any:
        for value in ("c", "d"):
            yield value

    async def read() -> list[Any]:
        astream = object.__new__(openai.AsyncStream)
        astream._iterator = items()
        return [value async for value in astream]

    assert asyncio.run(read()) == ["c", "d"]


def test_the_proxy_reads_the_sdk_streams_inner_generator(autolog: None) -> None:
    """The user's loop runs on the proxy's generator, which reads the stream's ``_iterator`` directly."""
    stream = _client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    assert stream._self_iter is stream.__wrapped__._iterator
    assert len(list(stream)) == len(CHUNKS)
    assert the_span().outputs["choices"][0]["message"]["content"] == "Hi there, friend"


def test_a_stream_class_with_its_own_iteration_is_not_skipped(autolog: None) -> None:
    """Only the SDK's own ``__iter__`` / ``__aiter__`` are skipped: a subclass that iterates its way is read
    through ``iter(stream)`` (no inner iterator is handed to the proxy)."""

    class Own(openai.Stream):  # type: ignore[misc]
        def __iter__(self) -> Any:
            return iter(())

    own = object.__new__(Own)
    own._iterator = iter(["skipped"])
    assert calls._inner_iterator(own) == (None, None)
    sdk = object.__new__(openai.AsyncStream)
    sdk._iterator = "inner"
    assert calls._inner_iterator(sdk) == ("inner", True)


# -- the server-sent events parser ---------------------------------------------------------------------------


def _items(chunks: list[bytes], limit: int = 100) -> list[Any]:
    tap = streams.ByteTap(decoder=None)
    tap.chunks.extend(chunks)
    tap.times.extend(range(1, len(chunks) + 1))
    return list(streams.sse_items(tap, limit))


def test_sse_events_split_anywhere_and_with_crlf() -> None:
    """Events split across reads, CRLF line ends, comments and event names: each item once, stamped with
    the read that completed it."""
    body = b': keep-alive\r\nevent: message\r\ndata: {"a": 1}\r\n\r\ndata: {"a": 2}\n\ndata: [DONE]\n\n'
    for size in (1, 3, 8, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        items = _items(chunks)
        assert [item for item, _ in items] == [{"a": 1}, {"a": 2}]
        times = [t for _, t in items]
        assert times == sorted(times) and times[-1] <= len(chunks)


def test_sse_multi_line_data_is_joined() -> None:
    assert _items([b'data: {"a":\ndata: 1}\n\n']) == [({"a": 1}, 1)]


def test_sse_stops_at_done_at_an_error_and_at_the_limit() -> None:
    """[DONE] and an ``error`` event end the items as they end the SDK's stream; ``limit`` counts items."""
    assert [i for i, _ in _items([b'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"a": 2}\n\n'])] == [{"a": 1}]
    errored = [b'data: {"a": 1}\n\ndata: {"error": {"message": "boom"}}\n\ndata: {"a": 2}\n\n']
    assert [i for i, _ in _items(errored)] == [{"a": 1}]
    assert [i for i, _ in _items([b'data: {"a": 1}\n\ndata: {"a": 2}\n\n'], limit=1)] == [{"a": 1}]
    assert _items([b'data: {"a": 1}\n\n'], limit=0) == []


def test_sse_skips_what_the_sdk_would_not_yield_as_an_item() -> None:
    """Unparseable data is skipped; a last event without its blank line still counts."""
    assert [i for i, _ in _items([b"data: not json\n\n", b'data: {"a": 1}'])] == [{"a": 1}]
