"""The autolog lifecycle and the guarantees around it: originals restored exactly, one patch however often
autolog runs, spans nested under the user's spans, nothing traced when told not to, the user's result never
changed, and spanlog's own failures never reaching the user."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import pytest

import spanlog
from spanlog.entities import SpanAttributeKey as Key
from spanlog.plugins import is_patched, suppress_spans
from spanlog.tracing.state import STATE

from cassettes import FAKE_API_KEY, MODEL_BASE_URL
from openai_helpers import chat_usage, dumped
from tree_helpers import assert_well_formed, the_span, the_trace, tree

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "Say hello."}]


def sdk_attributes() -> dict[tuple[type, str], Any]:
    """Every attribute the integration may patch, as stored on its class (what ``autolog`` must restore)."""
    from spanlog_openai.patch import HELPER_STREAMS, TARGETS

    found = {}
    for module_name, class_name, method in [
        *((m, c, n) for m, c, n, _ in TARGETS),
        *((m, c, "close") for m, c in HELPER_STREAMS),
    ]:
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        if method in vars(owner):
            found[(owner, method)] = vars(owner)[method]
    return found


def test_disable_restores_the_sdk() -> None:
    originals = sdk_attributes()
    chat = openai.resources.chat.completions.Completions
    assert (chat, "create") in originals and len(originals) >= 10

    spanlog.openai.autolog()
    assert spanlog.openai.state == "active"
    patched = sdk_attributes()
    assert all(is_patched(value) for value in patched.values())
    assert set(patched) == set(originals)

    spanlog.openai.autolog(disable=True)
    assert spanlog.openai.state != "active"
    restored = sdk_attributes()
    assert restored.keys() == originals.keys()
    assert all(restored[key] is originals[key] for key in originals)


def test_autolog_twice_patches_once(client: Any, model: str) -> None:
    first = sdk_attributes()
    spanlog.openai.autolog()  # the fixture already called it once
    assert sdk_attributes() == first
    client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"

    spanlog.openai.autolog(disable=True)
    assert not any(is_patched(value) for value in sdk_attributes().values())


def test_clients_made_before_autolog_are_traced(cassette: Any, model: str) -> None:
    client = openai.OpenAI(base_url=MODEL_BASE_URL, api_key=FAKE_API_KEY, max_retries=0)
    completions = client.chat.completions  # resources are cached per client
    spanlog.openai.autolog()
    completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert tree(the_trace()) == "chat.completions.create [CHAT_MODEL] OK"


def test_autolog_before_openai_is_imported() -> None:
    """In a fresh interpreter: ``spanlog.autolog()`` (every integration, importing none of their libraries)
    first, ``import openai`` afterwards: the post-import hook patches it."""
    code = (
        "import sys, spanlog\n"
        "spanlog.autolog()\n"
        "assert 'openai' not in sys.modules\n"
        "assert spanlog.openai.state == 'waiting for import', spanlog.openai.state\n"
        "import openai\n"
        "from spanlog.plugins import is_patched\n"
        "assert is_patched(vars(openai.resources.chat.completions.Completions)['create'])\n"
        "assert spanlog.openai.state == 'active'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_of_the_plugin_does_not_import_openai() -> None:
    code = (
        "import sys, spanlog.plugins\n"
        "spanlog.plugins.list_integrations()\n"
        "import spanlog_openai.plugin\n"
        "assert 'openai' not in sys.modules, 'the plugin imported openai'\n"
        "print([i.state() for i in spanlog.plugins.list_integrations() if i.name == 'openai'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['available']"


def test_supported_range_comes_from_the_package_metadata() -> None:
    state = next(s for s in spanlog.plugins.list_integrations() if s.name == "openai")
    assert state.integration.supported is None  # not written in code
    assert state.supported == "<4,>=1.40"


def test_nested_under_a_traced_function(client: Any, model: str) -> None:
    @spanlog.trace(span_type="AGENT")
    def agent(question: str) -> str:
        first = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], max_tokens=4
        )
        second = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
        usages.extend([first.usage, second.usage])
        return "done"

    usages: list[Any] = []
    assert agent("What is spanlog?") == "done"

    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == (
        "agent [AGENT] OK\n  chat.completions.create [CHAT_MODEL] OK\n  chat.completions.create [CHAT_MODEL] OK"
    )
    total = {
        key: sum(chat_usage(u)[key] for u in usages)
        for key in ("input_tokens", "output_tokens", "total_tokens")
    }
    assert trace.info.token_usage == total


def test_nested_under_start_span_with_a_stream(client: Any, model: str) -> None:
    with spanlog.start_span("answer", span_type="CHAIN") as parent:
        chunks = list(
            client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4, stream=True)
        )
        parent.set_outputs(len(chunks))
    trace = the_trace()
    assert_well_formed(trace)
    assert tree(trace) == "answer [CHAIN] OK\n  chat.completions.create [CHAT_MODEL] OK"


def test_log_traces_false_patches_without_tracing(client: Any, model: str) -> None:
    spanlog.openai.autolog(log_traces=False)
    response = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert response.choices
    assert spanlog.get_last_active_trace() is None


def test_tracing_disabled(client: Any, model: str) -> None:
    spanlog.tracing.disable()
    stream = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4, stream=True)
    assert type(stream) is openai.Stream  # not even a proxy: nothing to end
    list(stream)
    assert spanlog.get_last_active_trace() is None


def test_suppressed_inside_a_framework_span(client: Any, model: str) -> None:
    with spanlog.start_span("framework llm", span_type="CHAT_MODEL"):
        with suppress_spans():
            client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert tree(the_trace()) == "framework llm [CHAT_MODEL] OK"


def test_with_raw_response(client: Any, model: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, max_tokens=4)
    response = raw.parse()
    span = the_span()
    assert span.name == "chat.completions.create" and span.outputs == dumped(response)
    assert "extra_headers" not in span.inputs
    assert span.get_attribute(Key.TOKEN_USAGE) == chat_usage(response.usage)
    assert raw.parse() is response  # the SDK's cached parse: spanlog's read did not change it


def test_with_streaming_response(client: Any, model: str) -> None:
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=MESSAGES, max_tokens=4
    ) as raw:
        span = the_span()  # ended when the headers arrived: the body is the user's to read
        assert span.status.status_code.value == "OK" and span.outputs is None
        response = raw.parse()
    assert response.choices
    assert span.get_attribute(Key.CHAT_MESSAGES) == MESSAGES


@pytest.fixture
def production_mode() -> Any:
    saved = STATE.testing
    STATE.testing = False
    yield
    STATE.testing = saved


def test_spanlog_failure_never_reaches_the_user(
    client: Any, model: str, production_mode: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while recording the result: the user still gets the SDK's response, the failure is counted
    (when the deferred recording runs, here on reading the trace) and the span keeps what was recorded."""
    from spanlog_openai import calls

    def broken(*args: Any) -> Any:
        raise RuntimeError("bug in the integration")

    monkeypatch.setattr(calls.extract, "chat_usage", broken)
    response = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert isinstance(response, openai.types.chat.ChatCompletion) and response.choices
    span = the_span()  # the span still ended, with the inputs recorded before the failure
    assert span.end_time_ns is not None
    assert span.inputs["messages"] == MESSAGES
    assert span.status.status_code == "OK"
    assert any(kind.startswith("internal_error:recording span") for kind in spanlog.tracing.stats())


def test_result_is_the_sdks_own(client: Any, model: str) -> None:
    response = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=4)
    assert type(response) is openai.types.chat.ChatCompletion
    assert response.model_dump(exclude_unset=True, mode="json") == the_span().outputs
