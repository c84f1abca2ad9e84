"""Concurrency: threads, executors and asyncio tasks each build complete, correctly parented trees."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import spanlog
from spanlog.tracing import ContextThreadPoolExecutor, wrap_context

from tree_helpers import assert_well_formed, tree


@spanlog.trace(span_type="TOOL")
def leaf(request, step):
    return f"{request}:{step}"


@spanlog.trace(span_type="CHAIN")
def handle(request):
    with spanlog.start_span("stage") as span:
        span.set_inputs({"request": request})
        parts = [leaf(request, step) for step in range(3)]
    return parts


def test_32_threads_x_100_traces(traces) -> None:
    barrier = threading.Barrier(32)

    def worker(w: int) -> None:
        barrier.wait()
        for i in range(100):
            assert handle(f"w{w}-r{i}") == [f"w{w}-r{i}:{s}" for s in range(3)]

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recorded = traces.get_traces()
    assert len(recorded) == 3200
    expected_tree = (
        "handle [CHAIN] OK\n  stage [UNKNOWN] OK\n    leaf [TOOL] OK\n    leaf [TOOL] OK\n    leaf [TOOL] OK"
    )
    requests = Counter()
    for trace in recorded:
        assert tree(trace) == expected_tree
        assert_well_formed(trace)
        request = trace.data.spans[0].inputs["request"]
        requests[request] += 1
        # no span of another request leaked into this trace
        assert all(s.outputs == f"{request}:{i}" for i, s in enumerate(trace.data.spans[2:]))
    assert len(requests) == 3200
    assert spanlog.tracing.stats() == {}


async def test_1000_concurrent_asyncio_tasks(traces) -> None:
    @spanlog.trace(span_type="TOOL")
    async def fetch(request, part):
        await asyncio.sleep(0)
        return f"{request}/{part}"

    @spanlog.trace(span_type="AGENT")
    async def serve(request):
        await asyncio.sleep(0)
        first = await fetch(request, 0)
        rest = await asyncio.gather(fetch(request, 1), fetch(request, 2))
        return [first, *rest]

    results = await asyncio.gather(*(serve(f"r{i}") for i in range(1000)))
    assert results == [[f"r{i}/0", f"r{i}/1", f"r{i}/2"] for i in range(1000)]
    recorded = traces.get_traces()
    assert len(recorded) == 1000
    for trace in recorded:
        assert tree(trace) == "serve [AGENT] OK\n  fetch [TOOL] OK\n  fetch [TOOL] OK\n  fetch [TOOL] OK"
        assert_well_formed(trace)
        request = trace.data.spans[0].inputs["request"]
        assert sorted(s.outputs for s in trace.data.spans[1:]) == [f"{request}/{p}" for p in range(3)]


async def test_tasks_created_inside_a_span_inherit_it() -> None:
    @spanlog.trace
    async def background(i):
        await asyncio.sleep(0)
        return i

    with spanlog.start_span("parent"):
        tasks = [asyncio.create_task(background(i)) for i in range(3)]
        await asyncio.gather(*tasks)
    assert tree(spanlog.get_last_active_trace()) == (
        "parent [UNKNOWN] OK\n  background [UNKNOWN] OK\n  background [UNKNOWN] OK\n  background [UNKNOWN] OK"
    )


def test_plain_threads_start_their_own_traces_and_helpers_carry_context(traces) -> None:
    with spanlog.start_span("parent"):
        plain = threading.Thread(target=leaf, args=("plain", 0))
        plain.start()
        plain.join()
        carried = threading.Thread(target=wrap_context(leaf), args=("carried", 0))
        carried.start()
        carried.join()
        with ContextThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(leaf, ["pool"] * 4, range(4))) == [f"pool:{i}" for i in range(4)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            pool.submit(wrap_context(leaf), "submitted", 9).result()
    names = [tree(t) for t in traces.get_traces()]
    assert names[0] == "leaf [TOOL] OK"  # the plain thread: a trace of its own
    assert names[1] == "parent [UNKNOWN] OK\n" + "\n".join(["  leaf [TOOL] OK"] * 6)


async def test_run_in_executor_with_wrap_context() -> None:
    loop = asyncio.get_running_loop()
    with spanlog.start_span("parent"):
        await loop.run_in_executor(None, wrap_context(leaf), "x", 1)
        await asyncio.to_thread(leaf, "y", 2)  # to_thread copies the context by itself
    assert tree(spanlog.get_last_active_trace()) == "parent [UNKNOWN] OK\n  leaf [TOOL] OK\n  leaf [TOOL] OK"


def test_wrapped_function_runs_concurrently_in_many_threads() -> None:
    with spanlog.start_span("parent"):
        fn = wrap_context(leaf)
        threads = [threading.Thread(target=fn, args=("t", i)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(spanlog.get_last_active_trace().data.spans) == 9
