"""The safe patch: the user's result and exceptions are untouched, spanlog's own failures never reach the
user, unpatching restores the original objects, and suppression stops duplicate provider spans."""

from __future__ import annotations

import types
from typing import Any

import pytest
import wrapt

import spanlog
from spanlog.plugins import PROVIDER, is_patched, safe_patch, suppress_spans, unpatch
from spanlog.tracing import stats

from tree_helpers import tree


def traced(name: str = "call") -> Any:
    """A typical integration wrapper: one span with inputs and outputs around the original."""

    def wrapper(call: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        with spanlog.start_span(name, span_type="LLM") as span:
            span.set_inputs({"args": list(args), **kwargs})
            result = call(*args, **kwargs)
            span.set_outputs(result)
        return result

    return wrapper


def atraced(name: str = "acall") -> Any:
    async def wrapper(call: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        with spanlog.start_span(name, span_type="LLM") as span:
            span.set_inputs({"args": list(args), **kwargs})
            result = await call(*args, **kwargs)
            span.set_outputs(result)
        return result

    return wrapper


def test_patched_function_traces_and_returns_the_original_result(lib: types.ModuleType) -> None:
    safe_patch("t", lib, "add", traced("add"))
    assert lib.add(2, b=3) == 5
    trace = spanlog.get_last_active_trace()
    assert tree(trace) == "add [LLM] OK"
    span = trace.data.spans[0]
    assert span.inputs == {"args": [2], "b": 3}
    assert span.outputs == 5
    # wrapt keeps the introspection of the original
    assert lib.add.__name__ == "add" and lib.add.__doc__ == "Add two numbers."


def test_user_exception_propagates_unchanged(lib: types.ModuleType) -> None:
    safe_patch("t", lib, "add", traced("add"))
    with pytest.raises(lib.UserError) as info:
        lib.add("boom")
    assert str(info.value) == "the user's own error"
    assert info.value.__context__ is None
    trace = spanlog.get_last_active_trace()
    assert tree(trace) == "add [LLM] ERROR (UserError: the user's own error)"


@pytest.mark.parametrize("where", ["before", "after", "on_error"])
def test_spanlog_failure_never_reaches_the_user(
    lib: types.ModuleType, production_mode: None, where: str
) -> None:
    calls: list[tuple] = []
    original = lib.add

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    lib.add = counting

    def broken(call: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        if where == "before":
            raise RuntimeError("spanlog bug before the call")
        try:
            result = call(*args, **kwargs)
        except lib.UserError:
            if where == "on_error":
                raise KeyError("spanlog bug while recording the error")
            raise
        if where == "after":
            raise RuntimeError("spanlog bug after the call")
        return result

    safe_patch("t", lib, "add", broken)
    assert lib.add(1, 2) == 3
    assert len(calls) == 1, "the original ran exactly once"
    with pytest.raises(lib.UserError) as info:
        lib.add("boom")
    assert info.value.__context__ is None, "spanlog's error is not attached to the user's exception"
    assert len(calls) == 2
    counted = sum(n for kind, n in stats().items() if kind.startswith("internal_error:t patch of"))
    assert counted == {"before": 2, "after": 1, "on_error": 1}[where]


def test_testing_mode_raises_spanlog_failures(lib: types.ModuleType) -> None:
    def broken(call: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        raise RuntimeError("integration bug")

    safe_patch("t", lib, "add", broken)
    with pytest.raises(RuntimeError, match="integration bug"):
        lib.add(1, 2)


async def test_async_patch(lib: types.ModuleType, production_mode: None) -> None:
    safe_patch("t", lib, "aadd", atraced("aadd"))
    assert await lib.aadd(2, 5) == 7
    assert tree(spanlog.get_last_active_trace()) == "aadd [LLM] OK"
    with pytest.raises(lib.UserError, match="async error"):
        await lib.aadd("boom")
    assert tree(spanlog.get_last_active_trace()) == "aadd [LLM] ERROR (UserError: the user's own async error)"

    async def broken_after(call: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        await call(*args, **kwargs)
        raise RuntimeError("bug after await")

    safe_patch("t2", lib.Client, "acomplete", broken_after)
    assert await lib.Client().acomplete("a b") == {"text": "A B"}
    assert stats()["internal_error:t2 patch of Client.acomplete"] == 1


def test_methods_of_every_kind_and_identity_after_unpatch(lib: types.ModuleType) -> None:
    Client, SubClient = lib.Client, lib.SubClient
    before = {name: Client.__dict__[name] for name in ("complete", "create", "version")}
    patches = [safe_patch("t", Client, name, traced(name)) for name in before]
    # the subclass inherits an attribute this integration already patched: no second layer
    assert safe_patch("t", SubClient, "complete", traced("sub.complete")) is None
    # another integration may add its own layer on the subclass
    inherited = safe_patch("other", SubClient, "complete", traced("sub.complete"))
    assert all(is_patched(Client.__dict__[name]) for name in before)

    with spanlog.start_span("app"):
        assert Client().complete("hello") == {"text": "HELLO"}
        assert Client.create("x") == (Client, "x")
        assert Client().create("y") == (Client, "y")
        assert Client.version() == "1.0"
        assert SubClient().complete("sub") == {"text": "SUB"}
    assert tree(spanlog.get_last_active_trace()) == (
        "app [UNKNOWN] OK\n"
        "  complete [LLM] OK\n"
        "  create [LLM] OK\n"
        "  create [LLM] OK\n"
        "  version [LLM] OK\n"
        "  sub.complete [LLM] OK\n"
        "    complete [LLM] OK"
    )
    for patch in [*patches, inherited]:
        assert unpatch(patch)
    for name, original in before.items():
        assert Client.__dict__[name] is original
    assert "complete" not in SubClient.__dict__, "an inherited attribute is inherited again"
    assert SubClient.complete is Client.complete


def test_patching_twice_patches_once(lib: types.ModuleType) -> None:
    first = safe_patch("t", lib, "add", traced("add"))
    assert safe_patch("t", lib, "add", traced("add")) is None
    with spanlog.start_span("app"):
        lib.add(1)
    assert tree(spanlog.get_last_active_trace()) == "app [UNKNOWN] OK\n  add [LLM] OK"
    assert first is not None and unpatch(first)


def test_unpatch_under_a_foreign_wrapper_passes_through(lib: types.ModuleType) -> None:
    original = lib.add
    patch = safe_patch("t", lib, "add", traced("add"))
    seen: list[Any] = []

    def foreign(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
        seen.append(args)
        return wrapped(*args, **kwargs)

    lib.add = wrapt.FunctionWrapper(lib.add, foreign)  # another tool wrapped after spanlog
    assert patch is not None and unpatch(patch) is False
    assert lib.add(4, 4) == 8 and seen == [(4, 4)]
    assert spanlog.get_last_active_trace() is None, "spanlog's inactive layer makes no span"
    assert lib.add.__wrapped__.__wrapped__ is original


def test_suppressed_category_makes_no_provider_span(lib: types.ModuleType) -> None:
    safe_patch("provider", lib.Client, "complete", traced("provider.complete"), category=PROVIDER)

    with spanlog.start_span("framework.llm", span_type="CHAT_MODEL"):
        with suppress_spans(PROVIDER):
            assert lib.Client().complete("inside") == {"text": "INSIDE"}
        lib.Client().complete("outside")
    assert tree(spanlog.get_last_active_trace()) == (
        "framework.llm [CHAT_MODEL] OK\n  provider.complete [LLM] OK"
    )


def test_active_switch_is_read_per_call(lib: types.ModuleType) -> None:
    patch = safe_patch("t", lib, "add", traced("add"))
    assert patch is not None
    patch.active = False
    assert lib.add(1, 1) == 2
    assert spanlog.get_last_active_trace() is None
    patch.active = True
    lib.add(1, 1)
    assert tree(spanlog.get_last_active_trace()) == "add [LLM] OK"


def test_a_user_exception_leaves_no_reference_cycle(lib: types.ModuleType) -> None:
    import gc
    import weakref

    safe_patch("t", lib, "add", traced("add"))
    gc.collect()
    gc.disable()
    try:
        try:
            lib.add("boom")
        except lib.UserError as exc:
            ref = weakref.ref(exc)
        assert ref() is None, "the exception was freed by reference counting"
    finally:
        gc.enable()
