"""The OpenAI examples of the tracing guide (../shared/spec/tracing-guide.rst), run as written with ``mlflow``
spelled ``spanlog``. The SDK finds the recorded model server through OPENAI_BASE_URL / OPENAI_API_KEY, as a
user's environment would point it at OpenAI."""

from __future__ import annotations

from typing import Any

import pytest

import spanlog

from cassettes import FAKE_API_KEY, MODEL_BASE_URL
from tree_helpers import the_span, the_trace, tree


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch, cassette: Any) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", MODEL_BASE_URL)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_API_KEY)


def test_guide_automatic_tracing_enable(openai_env: None) -> None:
    import spanlog

    spanlog.openai.autolog()

    assert spanlog.openai.state == "active"


def test_guide_automatic_tracing_example(openai_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    import openai

    import spanlog

    # Calling the autolog API will enable trace logging by default.
    spanlog.openai.autolog()

    spanlog.set_experiment("OpenAI")

    openai_client = openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY"))

    messages = [
        {
            "role": "user",
            "content": "How can I improve my resting metabolic rate most effectively?",
        }
    ]

    response = openai_client.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        temperature=0.99,
    )

    print(response)

    assert "ChatCompletion(" in capsys.readouterr().out
    trace = the_trace()
    assert tree(trace) == "chat.completions.create [CHAT_MODEL] OK"
    assert trace.info.experiment_id == spanlog.set_experiment("OpenAI").experiment_id != "0"
    span = the_span()
    assert span.inputs == {"model": "gpt-4o", "messages": messages, "temperature": 0.99}
    assert span.get_attribute("spanlog.llm.model") == response.model


async def test_guide_async_function_as_written(openai_env: None) -> None:
    """The guide writes ``client.chat.completion.create`` (no such attribute in the SDK): as written, the
    traced function fails, and the trace records exactly that."""
    spanlog.openai.autolog()

    from openai import AsyncOpenAI

    client = AsyncOpenAI()

    @spanlog.trace
    async def async_func(message: str):
        return await client.chat.completion.create(
            model="gpt-4o", messages=[{"role": "user", "content": message}]
        )

    with pytest.raises(AttributeError, match="completion"):
        await async_func("What is MLflow Tracing?")

    trace = the_trace()
    assert tree(trace).startswith("async_func [UNKNOWN] ERROR (AttributeError: ")
    assert trace.data.spans[0].inputs == {"message": "What is MLflow Tracing?"}


async def test_guide_async_function(openai_env: None) -> None:
    """The same example with the SDK's spelling, ``chat.completions``: the call nests under the function."""
    spanlog.openai.autolog()

    from openai import AsyncOpenAI

    client = AsyncOpenAI()

    @spanlog.trace
    async def async_func(message: str):
        return await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": message}]
        )

    response = await async_func("What is MLflow Tracing?")

    trace = the_trace()
    assert tree(trace) == "async_func [UNKNOWN] OK\n  chat.completions.create [CHAT_MODEL] OK"
    root = trace.data.spans[0]
    assert root.inputs == {"message": "What is MLflow Tracing?"}
    assert root.outputs["id"] == response.id  # the decorator's outputs: the returned ChatCompletion
    assert trace.info.token_usage["total_tokens"] == response.usage.total_tokens
