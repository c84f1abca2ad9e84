"""The plugin as spanlog sees it: found by its entry point, patched once, restored exactly; and helpers that\nnever send their request. No HTTP."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
from anthropic.resources.messages import AsyncMessages, Messages

import spanlog
from spanlog.plugins import is_patched

from anthropic_helpers import MESSAGES, MODEL_ROOT_URL
from cassettes import FAKE_API_KEY, MODEL_NAME
from tree_helpers import the_span, the_trace, tree

TRACED = ((Messages, "create"), (AsyncMessages, "create"), (Messages, "stream"), (AsyncMessages, "stream"))


def sdk_attributes() -> dict[str, Any]:
    """The traced attributes as the classes hold them."""
    return {f"{owner.__name__}.{name}": vars(owner)[name] for owner, name in TRACED}


def test_found_by_entry_point() -> None:
    plugin = next(p for p in spanlog.plugins.list_plugins() if p.name == "anthropic")
    assert (plugin.distribution, plugin.source, plugin.state) == (
        "spanlog-anthropic",
        "entry point",
        "loaded",
    )
    state = next(i for i in spanlog.plugins.list_integrations() if i.name == "anthropic")
    assert state.integration.library == "anthropic"
    assert state.supported is not None and set(state.supported.split(",")) == {">=1.0", "<3"}  # the extra
    assert spanlog.anthropic.state == "available"

    spanlog.anthropic.autolog()
    assert spanlog.anthropic.state == "active"


def test_disable_restores_the_sdk() -> None:
    originals = sdk_attributes()
    assert not any(is_patched(value) for value in originals.values())

    spanlog.anthropic.autolog()
    patched = sdk_attributes()
    assert all(is_patched(value) for value in patched.values())
    assert {key: value.__wrapped__ for key, value in patched.items()} == originals

    spanlog.anthropic.autolog(disable=True)
    restored = sdk_attributes()
    assert all(restored[key] is originals[key] for key in originals)
    assert spanlog.anthropic.state == "available"


def test_autolog_twice_patches_once() -> None:
    spanlog.anthropic.autolog()
    first = sdk_attributes()
    spanlog.anthropic.autolog(silent=True)

    assert all(value is first[key] for key, value in sdk_attributes().items())
    assert all(not is_patched(value.__wrapped__) for value in first.values())


def test_sdk_types_unchanged() -> None:
    """Patching wraps methods only: the SDK's classes, and ``isinstance`` on its results, stay as they are."""
    spanlog.anthropic.autolog()
    client = anthropic.Anthropic(api_key="sk-test-not-a-real-key")
    assert type(client.messages) is Messages
    assert client.messages.create.__name__ == "create"
    assert client.messages.stream.__doc__ == "Create a Message stream"


def test_stream_helper_never_entered() -> None:
    """A helper dropped before its ``with`` block (no request was sent) ends its span, with nothing out."""
    spanlog.anthropic.autolog()
    client = anthropic.Anthropic(base_url=MODEL_ROOT_URL, api_key=FAKE_API_KEY, max_retries=0)
    manager = client.messages.stream(
        model=MODEL_NAME, max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
    )
    assert isinstance(manager, anthropic.MessageStreamManager)
    del manager
    gc.collect()

    span = the_span()
    assert tree(the_trace()) == "anthropic.messages.stream [CHAT_MODEL] OK"
    assert span.outputs is None
    assert [(e.name, e.attributes) for e in span.events] == [
        ("stream_closed_early", {"reason": "abandoned", "items": 0})
    ]
    assert span.attributes[MESSAGES] == [{"role": "user", "content": "Hi"}]


def test_tracing_disabled_hands_out_the_sdk_objects() -> None:
    spanlog.anthropic.autolog()
    spanlog.tracing.disable()
    client = anthropic.Anthropic(base_url=MODEL_ROOT_URL, api_key=FAKE_API_KEY, max_retries=0)
    manager = client.messages.stream(
        model=MODEL_NAME, max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
    )

    assert type(manager) is anthropic.MessageStreamManager  # no proxy, no span
    assert spanlog.get_last_active_trace() is None
