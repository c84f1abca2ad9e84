"""Exceptions at every depth: each span the exception passes through is ERROR, the exception is unchanged."""

from __future__ import annotations

import asyncio

import pytest

import spanlog

from tree_helpers import assert_well_formed, tree


class CustomError(Exception):
    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code


@spanlog.trace
def level3(x):
    if x == 3:
        raise CustomError(x)
    return x


@spanlog.trace
def level2(x):
    return level3(x)


@spanlog.trace
def level1(x, swallow=False):
    try:
        return level2(x)
    except CustomError:
        if swallow:
            return "recovered"
        raise


def test_exception_propagates_unchanged_through_every_level() -> None:
    with pytest.raises(CustomError) as info:
        level1(3)
    assert info.value.code == 3
    trace = spanlog.get_last_active_trace()
    assert tree(trace) == (
        "level1 [UNKNOWN] ERROR (CustomError: code 3)\n"
        "  level2 [UNKNOWN] ERROR (CustomError: code 3)\n"
        "    level3 [UNKNOWN] ERROR (CustomError: code 3)"
    )
    assert_well_formed(trace)
    assert trace.info.status.value == "ERROR"
    for span in trace.data.spans:
        (event,) = span.events
        assert event.attributes["exception.type"] == "CustomError"
        stack = event.attributes["exception.stacktrace"]
        assert "raise CustomError(x)" in stack
        assert "/spanlog/" not in stack  # spanlog's frames are left out
    # the traceback the user sees still has every frame
    frames = []
    tb = info.value.__traceback__
    while tb:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert frames[-1] == "level3"


def test_exception_caught_midway_leaves_outer_spans_ok() -> None:
    assert level1(3, swallow=True) == "recovered"
    assert tree(spanlog.get_last_active_trace()) == (
        "level1 [UNKNOWN] OK\n"
        "  level2 [UNKNOWN] ERROR (CustomError: code 3)\n"
        "    level3 [UNKNOWN] ERROR (CustomError: code 3)"
    )


def test_exception_in_context_manager_at_depth() -> None:
    with pytest.raises(KeyError):
        with spanlog.start_span("a"):
            with spanlog.start_span("b") as b:
                b.set_inputs({"partial": True})
                {}["missing"]
    assert tree(spanlog.get_last_active_trace(), io=True) == (
        "a [UNKNOWN] ERROR (KeyError: 'missing')\n  b [UNKNOWN] ERROR (KeyError: 'missing')\n    in: {\"partial\":true}"
    )


async def test_async_exception_and_cancellation() -> None:
    @spanlog.trace
    async def slow():
        await asyncio.sleep(10)

    @spanlog.trace
    async def failing():
        await asyncio.sleep(0)
        raise ValueError("async failure")

    with pytest.raises(ValueError, match="async failure"):
        await failing()
    assert tree(spanlog.get_last_active_trace()) == "failing [UNKNOWN] ERROR (ValueError: async failure)"

    task = asyncio.create_task(slow())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tree(spanlog.get_last_active_trace()) == "slow [UNKNOWN] ERROR (CancelledError: )"


def test_exception_chain_is_in_the_stacktrace() -> None:
    @spanlog.trace
    def wrapper():
        try:
            {}["k"]
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc

    with pytest.raises(RuntimeError):
        wrapper()
    stack = spanlog.get_last_active_trace().data.spans[0].events[0].attributes["exception.stacktrace"]
    assert "KeyError: 'k'" in stack and "direct cause" in stack and stack.endswith("RuntimeError: wrapped\n")


def test_exception_with_broken_str_still_recorded() -> None:
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    @spanlog.trace
    def f():
        raise Weird()

    with pytest.raises(Weird):
        f()
    span = spanlog.get_last_active_trace().data.spans[0]
    assert span.status.status_code.value == "ERROR"
    assert span.events[0].attributes["exception.type"] == "Weird"
