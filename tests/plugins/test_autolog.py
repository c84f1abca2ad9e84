"""The autolog lifecycle of an integration: one patch however often autolog runs, exact restore on disable,
version gating, post-import hooks, and ``spanlog.<name>`` for installed and missing integrations."""

from __future__ import annotations

import importlib
import logging
import sys
import types
from typing import Any

import pytest

import spanlog
from spanlog.plugins import (
    ACTIVE,
    AVAILABLE,
    FAILED,
    INCOMPATIBLE,
    WAITING,
    AutologContext,
    Integration,
    IntegrationNotInstalledError,
    hookimpl,
)

from tree_helpers import tree


def make_plugin(
    module_name: str, name: str = "samplelib", supported: str | None = None
) -> types.SimpleNamespace:
    """A plugin instrumenting the sample library ``module_name`` the way a real integration does."""
    patched: list[int] = []

    def patch(ctx: AutologContext) -> None:
        lib = importlib.import_module(module_name)
        patched.append(1)

        def wrapper(call: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
            with spanlog.start_span(f"{name}.complete", span_type="CHAT_MODEL") as span:
                span.set_inputs({"prompt": args[0]})
                result = call(*args, **kwargs)
                span.set_outputs(result)
                if ctx.options.get("tag"):
                    span.set_attribute("tag", ctx.options["tag"])
            return result

        ctx.patch(lib.Client, "complete", wrapper)
        ctx.patch(lib, "add", wrapper)

    class Plugin:
        @hookimpl
        def spanlog_integrations(self) -> list[Integration]:
            return [
                Integration(
                    name=name,
                    library=module_name,
                    module=module_name,
                    patch=patch,
                    supported=supported,
                    description="the sample library",
                )
            ]

    return types.SimpleNamespace(plugin=Plugin(), patched=patched)


def test_autolog_patches_once_and_disable_restores_identity(lib: types.ModuleType) -> None:
    plugin = make_plugin(lib.__name__)
    spanlog.plugins.register(plugin.plugin, name="sample")
    original_complete, original_add = lib.Client.__dict__["complete"], lib.add
    assert spanlog.samplelib.state == AVAILABLE

    spanlog.samplelib.autolog()
    spanlog.samplelib.autolog(tag="second")
    assert plugin.patched == [1], "a second autolog() call does not patch again"
    assert spanlog.samplelib.state == ACTIVE

    @spanlog.trace
    def app() -> Any:
        return lib.Client().complete("hi")

    assert app() == {"text": "HI"}
    trace = spanlog.get_last_active_trace()
    assert tree(trace) == "app [UNKNOWN] OK\n  samplelib.complete [CHAT_MODEL] OK"
    assert trace.data.spans[1].attributes["tag"] == "second", "the latest settings are read live"

    spanlog.samplelib.autolog(disable=True)
    assert lib.Client.__dict__["complete"] is original_complete
    assert lib.add is original_add
    assert spanlog.samplelib.state == AVAILABLE
    lib.Client().complete("quiet")
    assert spanlog.get_last_active_trace() is trace, "no span once disabled"

    spanlog.samplelib.autolog()
    assert plugin.patched == [1, 1], "enabling after disabling patches again"


def test_log_traces_false_keeps_patches_but_makes_no_spans(lib: types.ModuleType) -> None:
    spanlog.plugins.register(make_plugin(lib.__name__).plugin, name="sample")
    spanlog.samplelib.autolog(log_traces=False)
    assert lib.add(1, 2) == 3
    assert spanlog.get_last_active_trace() is None
    spanlog.samplelib.autolog(log_traces=True)
    lib.add(1, 2)
    assert tree(spanlog.get_last_active_trace()) == "samplelib.complete [CHAT_MODEL] OK"


def test_post_import_hook_patches_a_library_imported_later(lib_name: str) -> None:
    spanlog.plugins.register(make_plugin(lib_name).plugin, name="sample")
    assert lib_name not in sys.modules
    spanlog.autolog()  # every installed integration: this library is not imported yet
    assert lib_name not in sys.modules, "spanlog.autolog() does not import libraries itself"
    assert spanlog.samplelib.state == WAITING
    lazy = importlib.import_module(lib_name)
    assert spanlog.samplelib.state == ACTIVE
    assert lazy.Client().complete("later") == {"text": "LATER"}
    assert tree(spanlog.get_last_active_trace()) == "samplelib.complete [CHAT_MODEL] OK"


def test_disable_before_import_cancels_the_post_import_hook(lib_name: str) -> None:
    plugin = make_plugin(lib_name)
    spanlog.plugins.register(plugin.plugin, name="sample")
    spanlog.autolog()
    spanlog.autolog(disable=True)
    importlib.import_module(lib_name)
    assert plugin.patched == []
    assert spanlog.samplelib.state == AVAILABLE


def test_version_outside_the_range_is_skipped_with_a_warning_unless_forced(
    lib: types.ModuleType, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spanlog.plugins import integration as integration_module

    monkeypatch.setattr(integration_module, "installed_version", lambda library: "0.9.0")
    plugin = make_plugin(lib.__name__, supported=">=1.0,<2")
    spanlog.plugins.register(plugin.plugin, name="sample")
    with caplog.at_level(logging.WARNING, logger="spanlog.plugins"):
        spanlog.samplelib.autolog()
    assert plugin.patched == []
    assert spanlog.samplelib.state == INCOMPATIBLE
    assert "0.9.0 is outside the supported range >=1.0,<2" in caplog.text
    assert "autolog(force=True)" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spanlog.plugins"):
        spanlog.samplelib.autolog(silent=True)
    assert caplog.text == "", "silent=True keeps autolog quiet"

    spanlog.samplelib.autolog(force=True)
    assert plugin.patched == [1] and spanlog.samplelib.state == ACTIVE


def test_range_is_read_from_the_plugin_distribution_metadata() -> None:
    from spanlog.plugins.integration import range_from_metadata, version_supported

    # spanlog itself declares no 'instruments' extra: no range
    assert range_from_metadata("spanlog", "pandas") is None
    assert range_from_metadata("not-installed-dist", "x") is None
    assert version_supported("1.5.0", ">=1.0,<2")
    assert not version_supported("2.0.0", ">=1.0,<2")
    assert version_supported("2.0.0rc1", ">=2.0.0rc1")
    assert version_supported("anything", None)


def test_a_failing_patch_is_rolled_back_and_reported(lib: types.ModuleType, production_mode: None) -> None:
    original = lib.Client.__dict__["complete"]

    def patch(ctx: AutologContext) -> None:
        ctx.patch(lib.Client, "complete", lambda call, instance, args, kwargs: call(*args, **kwargs))
        raise RuntimeError("patch bug halfway")

    class Plugin:
        @hookimpl
        def spanlog_integrations(self) -> list[Integration]:
            return [Integration(name="broken", library=lib.__name__, module=lib.__name__, patch=patch)]

    spanlog.plugins.register(Plugin(), name="broken-plugin")
    spanlog.broken.autolog()
    assert lib.Client.__dict__["complete"] is original, "the half-applied patch was undone"
    assert spanlog.broken.state == FAILED
    assert lib.Client().complete("still works") == {"text": "STILL WORKS"}
    assert spanlog.tracing.stats()["internal_error:patching broken"] == 1


def test_missing_first_party_integration_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = spanlog.plugins.get_manager()
    manager.ensure_loaded()
    monkeypatch.delitem(manager.integrations, "llama_index", raising=False)
    with pytest.raises(IntegrationNotInstalledError, match=r"pip install 'spanlog\[llama-index\]'"):
        spanlog.llama_index.autolog()
    assert not hasattr(spanlog, "llama_index")
    with pytest.raises(AttributeError, match="no installed plugin provides an integration named 'nosuchlib'"):
        spanlog.nosuchlib


def test_import_spanlog_loads_no_plugin() -> None:
    import subprocess

    code = (
        "import sys, spanlog; "
        "assert 'spanlog.plugins' not in sys.modules and 'pluggy' not in sys.modules, sorted(sys.modules); "
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
