"""API errors: the span is ERROR with the exception event, and the user gets exactly the exception the SDK
raises without spanlog (same type, message, status, body, cause and context).

Real errors of the local server where it produces them (a 404, and the 500 it answers to an invalid
request); the rest from hand-written cassettes (a 429 rate limit, a stream that fails midway) or from a
transport that raises (a timeout, a refused connection), which no cassette can hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import spanlog
from spanlog.entities import SpanAttributeKey as Key

from cassettes import FAKE_API_KEY, MODEL_BASE_URL, use_cassette
from openai_helpers import http_module
from tree_helpers import event_names, the_span, the_trace, tree

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def cassette_twice(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's cassette, each recorded exchange playable twice (once without spanlog, once with)."""
    with use_cassette("openai", request.node.name, allow_playback_repeats=True) as recorded:
        yield recorded


def raised(fn: Callable[[], Any]) -> BaseException:
    with pytest.raises(BaseException) as info:
        fn()
    return info.value


def fingerprint(exc: BaseException) -> tuple[Any, ...]:
    """What the user can observe of an SDK exception."""
    return (
        type(exc),
        str(exc),
        getattr(exc, "status_code", None),
        getattr(exc, "body", None),
        type(exc.__cause__),
        type(exc.__context__),
    )


def same_error_with_and_without_spanlog(call: Callable[[Any], Any]) -> BaseException:
    """Run ``call(client)`` without, then with autolog; both raise the same; returns the traced one."""
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0)
    untraced = raised(lambda: call(client))
    assert spanlog.get_last_active_trace() is None
    spanlog.openai.autolog()
    traced = raised(lambda: call(client))
    assert fingerprint(traced) == fingerprint(untraced)
    return traced


def assert_error_span(exc: BaseException, name: str = "chat.completions.create") -> Any:
    span = the_span()
    assert span.name == name and span.status.status_code.value == "ERROR"
    assert span.status.description.startswith(f"{type(exc).__name__}: ")
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"] == type(exc).__name__
    assert event.attributes["exception.message"] == str(exc)
    assert the_trace().info.status.value == "ERROR"
    return span


def test_not_found_4xx(cassette_twice: Any, model: str) -> None:
    """A real 404 of the local server (a wrong base path)."""
    openai = pytest.importorskip("openai")

    def call(client: Any) -> Any:
        wrong = client.with_options(base_url=MODEL_BASE_URL.removesuffix("/v1") + "/no-such-api")
        return wrong.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)

    exc = same_error_with_and_without_spanlog(call)
    assert isinstance(exc, openai.NotFoundError) and exc.status_code == 404
    span = assert_error_span(exc)
    assert tree(the_trace()).startswith(
        "chat.completions.create [CHAT_MODEL] ERROR (NotFoundError: Error code: 404"
    )
    assert span.inputs == {"model": model, "messages": MESSAGES, "max_tokens": 4}
    assert span.outputs is None
    assert span.get_attribute(Key.CHAT_MESSAGES) == MESSAGES  # the request's side is still there
    assert span.get_attribute(Key.MODEL) == model


def test_server_error_5xx(cassette_twice: Any, model: str) -> None:
    """The local server answers 500 to a request it cannot validate (a real server error)."""
    openai = pytest.importorskip("openai")

    def call(client: Any) -> Any:
        return client.chat.completions.create(model=model, messages=MESSAGES, temperature="hot")

    exc = same_error_with_and_without_spanlog(call)
    assert isinstance(exc, openai.InternalServerError) and exc.status_code == 500
    assert_error_span(exc)


@pytest.mark.hand_written_cassette
def test_rate_limited_429(cassette_twice: Any, model: str) -> None:
    openai = pytest.importorskip("openai")

    def call(client: Any) -> Any:
        return client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)

    exc = same_error_with_and_without_spanlog(call)
    assert isinstance(exc, openai.RateLimitError) and exc.status_code == 429
    assert exc.body["type"] == "requests"
    assert_error_span(exc)


@pytest.mark.hand_written_cassette
async def test_rate_limited_429_async(autolog: Any, cassette: Any, model: str) -> None:
    openai = autolog
    client = openai.AsyncOpenAI(base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4, stream=True)
    assert_error_span(info.value)


def failing_client(openai: Any, error: str, *, async_: bool = False) -> Any:
    """A client whose transport raises ``httpx.<error>`` for every request."""
    httpx = http_module()

    def handler(request: Any) -> Any:
        raise getattr(httpx, error)(f"{error} raised by the test transport", request=request)

    if async_:
        http_client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        return openai.AsyncOpenAI(
            base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0, http_client=http_client
        )
    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(
        base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0, http_client=http_client
    )


def test_timeout(autolog: Any, model: str) -> None:
    openai = autolog
    client = failing_client(openai, "ReadTimeout")
    with pytest.raises(openai.APITimeoutError) as info:
        client.chat.completions.create(model=model, messages=MESSAGES, timeout=0.5)
    assert type(info.value.__cause__).__name__ == "ReadTimeout"
    span = assert_error_span(info.value)
    assert span.inputs["timeout"] == 0.5


async def test_timeout_async_stream(autolog: Any, model: str) -> None:
    openai = autolog
    client = failing_client(openai, "ReadTimeout", async_=True)
    with pytest.raises(openai.APITimeoutError) as info:
        await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    assert_error_span(info.value)


def test_connection_refused(autolog: Any, model: str) -> None:
    openai = autolog
    client = failing_client(openai, "ConnectError")
    with pytest.raises(openai.APIConnectionError) as info:
        client.embeddings.create(model=model, input="x")
    span = assert_error_span(info.value, name="embeddings.create")
    assert span.span_type == "EMBEDDING"


@pytest.mark.hand_written_cassette
def test_stream_fails_midway(client: Any, model: str, autolog: Any) -> None:
    """The server sends two chunks, then an error event: the SDK raises APIError from the loop."""
    openai = autolog
    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert (
        len(received) == 2 and info.value.message == "The server had an error while processing your request."
    )

    span = assert_error_span(info.value)
    assert event_names(span) == ["first_token", "exception"]
    assert span.outputs["choices"][0]["message"]["content"] == "".join(received)  # what arrived before


@pytest.mark.hand_written_cassette
async def test_stream_fails_midway_async(aclient: Any, model: str, autolog: Any) -> None:
    openai = autolog
    stream = await aclient.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        async for _chunk in stream:
            pass
    span = the_span()
    assert span.status.status_code.value == "ERROR"
    assert event_names(span) == ["first_token", "exception"]


def test_error_under_a_traced_function(autolog: Any, model: str) -> None:
    """The SDK's exception goes through the user's function too: both spans are ERROR, one trace."""
    openai = autolog
    client = failing_client(openai, "ConnectError")

    @spanlog.trace
    def answer(question: str) -> Any:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])

    with pytest.raises(openai.APIConnectionError):
        answer("hi")
    assert tree(the_trace()) == (
        "answer [UNKNOWN] ERROR (APIConnectionError: Connection error.)\n"
        "  chat.completions.create [CHAT_MODEL] ERROR (APIConnectionError: Connection error.)"
    )
