"""What the patching toolkit adds to a patched call and to each item of a stream, measured in one run.

Why: every integration call goes through a safe patch, and every streamed chunk through a stream proxy; both
must cost next to nothing beside the span they record. Workloads, each the median of several repetitions:

    P1  a trivial function ``f(x, y=2)`` patched with a pass-through wrapper, µs per call over the
        unpatched call: a plain closure, wrapt's FunctionWrapper (what most instrumentations use),
        spanlog's ``safe_patch``, and MLflow's ``safe_patch`` (MLflow 3, in its own virtualenv);
    P2  the same function with a wrapper that opens a span (``spanlog.start_span``): safe_patch against a
        plain closure doing the same, so the difference is what the toolkit adds beyond the span;
    S1  iterating 10,000 items through ``StreamProxy`` (with an ``on_item`` callback) against the bare
        iterator, µs per item; and through ``span_stream`` (the whole stream span).

    python dev.py run python bench/bench_plugins.py              # full run, writes docs/performance.md
    python dev.py run python bench/bench_plugins.py --quick      # smoke test, writes nothing
    python dev.py run python bench/bench_plugins.py --no-mlflow  # no peer venv, writes nothing
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import bench_arguments, machine_line, num, replace_marked, verdict
from _venvs import ensure_venv

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
START, END = "<!-- bench_plugins:start -->", "<!-- bench_plugins:end -->"
MLFLOW_REQUIREMENTS = ["mlflow==3.17.2"]
MLFLOW_PROBE = "import mlflow"


def median_us(fn: Callable[[int], None], n: int, reps: int) -> float:
    """Median over ``reps`` of the time of ``fn(n)`` divided by ``n``, in µs."""
    fn(max(1, n // 10))  # warm-up
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


def calls(fn: Callable[..., Any]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for i in range(n):
            fn(i, y=3)

    return run


class Target:
    """Holds the patched functions as attributes, the way integrations patch a module or class."""


def f(x: int, y: int = 2) -> int:
    return x + y


def spanlog_workloads(n: int, reps: int) -> dict[str, float]:
    import wrapt

    import spanlog
    from spanlog.export import InMemoryTraceExporter, set_exporter
    from spanlog.plugins import StreamProxy, safe_patch, span_stream, start_detached_span

    set_exporter(InMemoryTraceExporter(max_traces=100))
    out: dict[str, float] = {}
    out["unpatched"] = median_us(calls(f), n, reps)

    def closure(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    out["closure"] = median_us(calls(closure), n, reps)
    out["wrapt"] = median_us(calls(wrapt.FunctionWrapper(f, lambda w, i, a, k: w(*a, **k))), n, reps)

    Target.f = f  # type: ignore[attr-defined]
    safe_patch("bench", Target, "f", lambda call, instance, args, kwargs: call(*args, **kwargs))
    out["safe_patch"] = median_us(calls(Target.f), n, reps)  # type: ignore[attr-defined]

    def with_span(*args: Any, **kwargs: Any) -> Any:
        with spanlog.start_span("f"):
            return f(*args, **kwargs)

    def span_wrapper(call: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with spanlog.start_span("f"):
            return call(*args, **kwargs)

    Target.g = f  # type: ignore[attr-defined]
    safe_patch("bench", Target, "g", span_wrapper)
    span_n = max(1, n // 20)
    with spanlog.start_span("root"):  # children of one root: no trace export per call
        out["closure_span"] = median_us(calls(with_span), span_n, reps)
        out["safe_patch_span"] = median_us(calls(Target.g), span_n, reps)  # type: ignore[attr-defined]

    items = list(range(10_000))

    def bare(k: int) -> None:
        for _ in range(k):
            for _item in iter(items):
                pass

    def proxied(k: int) -> None:
        seen: list[int] = []
        for _ in range(k):
            seen.clear()
            for _item in StreamProxy(iter(items), seen.append):
                pass

    def spanned(k: int) -> None:
        for _ in range(k):
            seen: list[int] = []
            span = start_detached_span("stream", span_type="LLM")
            for _item in span_stream(iter(items), span, on_item=seen.append):
                pass

    out["stream_bare"] = median_us(bare, 5, reps) / len(items)
    out["stream_proxy"] = median_us(proxied, 5, reps) / len(items)
    out["stream_span"] = median_us(spanned, 5, reps) / len(items)
    return out


MLFLOW_SNIPPET = r"""
import json, statistics, sys, time
from mlflow.utils.autologging_utils import autologging_integration, safe_patch

n, reps = int(sys.argv[1]), int(sys.argv[2])

class Target:
    pass

def f(x, y=2):
    return x + y

Target.f = f

@autologging_integration("bench")
def autolog(disable=False, silent=False):
    safe_patch("bench", Target, "f", lambda original, *args, **kwargs: original(*args, **kwargs))

autolog()

def median_us(fn, n):
    for i in range(max(1, n // 10)):
        fn(i, y=3)
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        for i in range(n):
            fn(i, y=3)
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)

print(json.dumps({"unpatched": median_us(f, n), "safe_patch": median_us(Target.f, n)}))
"""


def mlflow_workloads(n: int, reps: int) -> dict[str, float]:
    python = ensure_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE)
    out = subprocess.run(
        [str(python), "-c", MLFLOW_SNIPPET, str(n), str(reps)],
        capture_output=True,
        text=True,
        check=True,
        env={"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def render(s: dict[str, float], m: dict[str, float] | None, n: int, reps: int) -> str:
    base = s["unpatched"]
    added = {k: s[k] - base for k in ("closure", "wrapt", "safe_patch")}
    mlflow_added = (m["safe_patch"] - m["unpatched"]) if m else None
    beyond_span = s["safe_patch_span"] - s["closure_span"]
    per_item = s["stream_proxy"] - s["stream_bare"]
    per_item_span = s["stream_span"] - s["stream_bare"]
    rows = [
        "| workload | µs | target |",
        "|---|---:|---|",
        f"| P1. plain closure, added per call | {num(added['closure'])} | |",
        f"| P1. wrapt FunctionWrapper, added per call | {num(added['wrapt'])} | |",
        f"| P1. spanlog safe_patch, added per call | {num(added['safe_patch'])} | |",
        f"| P1. MLflow safe_patch, added per call | {num(mlflow_added)} | |",
        f"| P2. span via closure (per call) | {num(s['closure_span'])} | |",
        f"| P2. span via spanlog safe_patch (per call) | {num(s['safe_patch_span'])} | |",
        f"| P2. safe_patch beyond the span it creates | {num(beyond_span)} | "
        f"{verdict('≤ 2 µs', beyond_span, lambda v: v <= 2.0)} |",
        f"| S1. StreamProxy with on_item, added per item | {num(per_item)} | "
        f"{verdict('≤ 1 µs', per_item, lambda v: v <= 1.0)} |",
        f"| S1. span_stream (whole stream span), added per item | {num(per_item_span)} | |",
    ]
    versions = [{"versions": {"mlflow": _mlflow_version()}}] if m else []
    mlflow_note = "" if m else " MLflow not measured (--no-mlflow)."
    return (
        "\n".join(rows)
        + f"\n\nMedians of {reps} repetitions of {n:,} calls (P2: {max(1, n // 20):,} child spans under one root;"
        f" S1: 5 passes over 10,000 items). Unpatched call: {num(base)} µs.{mlflow_note}\n\n"
        + machine_line(versions)
        + "\n"
    )


def _mlflow_version() -> str:
    return MLFLOW_REQUIREMENTS[0].split("==")[1]


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(__doc__, argv)
    n, reps = (20_000, 3) if args.quick else (200_000, 7)
    s = spanlog_workloads(n, reps)
    m = None if args.no_mlflow else mlflow_workloads(n, reps)
    table = render(s, m, n, reps)
    print(table)
    if args.write or not (args.quick or args.no_mlflow):
        text = DOC.read_text()
        replaced = replace_marked(text, START, END, table)
        if replaced is None:
            print(f"bench: no {START} markers in {DOC}; nothing written", file=sys.stderr)
            return 1
        DOC.write_text(replaced)
    return 0


if __name__ == "__main__":
    sys.exit(main())
