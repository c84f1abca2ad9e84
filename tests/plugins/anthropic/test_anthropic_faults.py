"""Faults injected into every span operation the plugin's patches use leave each call shape with exactly the
result an untraced call gets: the same reply, the same events, the same helper text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_anthropic_messages import request

import spanlog
from spanlog.entities.span import LiveSpan
from spanlog.tracing import state

from cassettes import FAKE_API_KEY, MODEL_NAME, use_cassette

anthropic = pytest.importorskip("anthropic")

from anthropic_helpers import MODEL_ROOT_URL  # noqa: E402

SPAN_OPERATIONS = (
    "set_inputs",
    "set_outputs",
    "set_attribute",
    "set_attributes",
    "add_event",
    "record_exception",
)


def _client() -> Any:
    return anthropic.Anthropic(base_url=MODEL_ROOT_URL, api_key=FAKE_API_KEY, max_retries=0)


def _create() -> Any:
    return _client().messages.create(**request(MODEL_NAME)).to_dict(mode="json")


def _create_stream() -> Any:
    return [
        event.to_dict(mode="json") for event in _client().messages.create(**request(MODEL_NAME), stream=True)
    ]


def _stream_helper() -> Any:
    with _client().messages.stream(**request(MODEL_NAME)) as stream:
        text = "".join(stream.text_stream)
        return text, stream.get_final_message().to_dict(mode="json")


def _early_break() -> Any:
    stream = _client().messages.create(**request(MODEL_NAME), stream=True)
    first = next(iter(stream)).to_dict(mode="json")
    stream.close()
    return first


CALLS: dict[str, tuple[str, Callable[[], Any]]] = {
    "create": ("test_create", _create),
    "create_stream": ("test_create_stream", _create_stream),
    "stream_helper": ("test_stream_helper_text_stream", _stream_helper),
    "closed_early": ("test_create_stream", _early_break),
}


@pytest.mark.parametrize("shape", list(CALLS))
def test_span_faults_leave_every_call_shape_unchanged(shape: str) -> None:
    cassette, call = CALLS[shape]
    with use_cassette("anthropic", cassette, allow_playback_repeats=True, record_mode="none"):
        untraced = call()
        spanlog.anthropic.autolog()
        with pytest.MonkeyPatch.context() as monkeypatch:
            saved = state.STATE.testing
            state.STATE.testing = False
            try:
                for name in SPAN_OPERATIONS:
                    monkeypatch.setattr(LiveSpan, name, _raise)
                traced = call()
            finally:
                state.STATE.testing = saved
    assert traced == untraced
    assert sum(spanlog.tracing.stats().values()) >= 1, "the injected faults were hit and counted"
    state.reset_stats()  # the faults were the point; the conftest checks nothing else went wrong


def _raise(self: Any, *args: Any, **kwargs: Any) -> None:
    raise RuntimeError("injected span fault")
