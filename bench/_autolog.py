"""What the autolog benchmarks (bench_openai, bench_langchain, bench_llama_index, bench_autogen) share.

Each of them times one library's calls with spanlog's autolog off and on, next to MLflow's autolog of the same
library, every tracer in a fresh subprocess that runs ``HEAD + PRELUDE + setup + HARNESS + WORKLOAD``: the
script's prelude (the library's objects and the ``call`` to time), the tracer's setup snippet (``enable``,
``disable``, ``switch``, ``flush`` from ``spanlog_setup`` / ``mlflow_setup``, then the script's ``check``,
``VERSIONS`` and spanlog's ``switch``), the timing harness, and the script's workload,
``report({...: measure(call, reps), ...})``. Here: those snippets, the subprocess runner, the spanlog and
MLflow environments, the peer virtualenv with the workspace's library versions, the table's common columns
and notes, and the end of every run (print, failures, ``--write``). What differs (the library's workload, the
rest of the setup snippets, the table's titles, targets and notes) stays in each script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _report import (
    bench_arguments,
    machine_line,
    num,
    ratio,
    replace_marked,
    run_snippet,
    times,
    verdict,
)
from _venvs import clean_env, ensure_venv

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
MLFLOW_REQUIREMENTS = ["mlflow>=3,<4"]

# --- a tracer's subprocess runs HEAD + the script's PRELUDE + the setup + HARNESS + the script's WORKLOAD ---

HEAD = r"""
import gc, json, os, random, statistics, sys, time
from importlib.metadata import version

CFG = json.loads(sys.argv[1])
SWITCH_INSTALLS = False  # a setup whose switch() adds and removes the tracer itself sets it (no enable() first)
"""

HARNESS = r"""
def loop(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def one(fn, on):
    switch(on)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def by_calls(fn, reps):
    # one call per arm, three arms per repetition in a random order: off, on, and off again (A/A noise)
    shuffle = random.Random(7).shuffle
    if not SWITCH_INSTALLS:
        enable()  # switch() only changes a setting: the tracer's hooks must be in place
    arms = {"off": [], "on": [], "off2": []}
    order = list(arms)
    for rep in range(reps):
        shuffle(order)
        for arm in order:
            arms[arm].append(one(fn, arm == "on"))
        if rep % 50 == 49:
            flush()  # keep the export queue short; what the exporter thread does overlaps every arm alike
    flush()
    disable()
    return arms, 1


def by_batches(fn, reps):
    # batches of calls (for a tracer that is slow to switch), alternating off / on
    n = 1
    while loop(fn, n) < CFG["batch_s"] and n < 10**5:
        n *= 2
    arms = {"off": [], "on": [], "off2": []}
    for rep in range(reps):
        for arm in (("off", "on") if rep % 2 == 0 else ("on", "off")):
            if arm == "on":
                enable()
                flush()
                arms[arm].append(loop(fn, n) / n)
                flush()
                disable()
            else:
                arms[arm].append(loop(fn, n) / n)
    return arms, n


def cpu_cost(fn, n, reps):
    # CPU time of the whole process (every thread: the tracer's exporter too) per call, tracing on minus off:
    # batches of n calls, each followed by a flush, so that writing what the batch queued is inside the timing
    def turn(on):
        if switch is not None:
            switch(on)
        elif on:
            enable()
        else:
            disable()

    enable()
    arms = {"off": [], "on": []}
    for rep in range(reps):
        for arm in (("off", "on") if rep % 2 == 0 else ("on", "off")):
            turn(arm == "on")
            flush()
            start = time.process_time()
            for _ in range(n):
                fn()
            flush()
            arms[arm].append((time.process_time() - start) / n)
    disable()
    return statistics.median(arms["on"]) * 1e6 - statistics.median(arms["off"]) * 1e6


def median_ci(ordered):
    # a 95% confidence interval of the median of these sorted values, from their order statistics (the
    # binomial count of values below the median; no assumption about their distribution)
    n = len(ordered)
    k = max(0, int((n - 1.96 * n**0.5) / 2))
    return ordered[k], ordered[n - 1 - k]


def measure(fn, reps):
    # "cpu_added_us" too when the script's settings have "cpu_calls" and "cpu_reps"
    disable()
    loop(fn, 30)  # warm-up: imports, pydantic validators, the library's caches and connection pools
    enable()
    loop(fn, 5)
    check()
    flush()
    disable()
    # the library's and the tracers' module-level objects are not what is measured: keep the cyclic
    # collector's full passes over them out of the timings
    gc.collect()
    gc.freeze()
    arms, n = (by_calls if switch is not None else by_batches)(fn, reps)
    off, on, off2 = arms["off"], arms["on"], arms["off2"]
    added = sorted(b - a for a, b in zip(off, on))
    result = {
        "plain_us": statistics.median(off) * 1e6,
        "added_us": statistics.median(added) * 1e6,
        "added_ci_us": [v * 1e6 for v in median_ci(added)],
        "calls": n,
        "reps": len(on),
    }
    if "cpu_calls" in CFG:
        result["cpu_added_us"] = cpu_cost(fn, CFG["cpu_calls"], CFG["cpu_reps"])
    if off2:
        result["noise_us"] = statistics.median(b - a for a, b in zip(off, off2)) * 1e6
    return result


def report(result):
    print("BENCH_RESULT " + json.dumps(result), flush=True)
"""


def spanlog_setup(integration: str) -> str:
    """The start of spanlog's setup snippet: a SQLite store in the work dir, ``enable`` / ``disable`` with
    ``spanlog.<integration>.autolog()``, ``flush``; the script adds ``switch``, ``check`` and ``VERSIONS``."""
    return f"""
import spanlog

spanlog.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "spanlog.db"))


def enable():
    spanlog.{integration}.autolog()


def disable():
    spanlog.{integration}.autolog(disable=True)


def flush():
    spanlog.flush_trace_async_logging()

"""


def mlflow_setup(flavor: str) -> str:
    """The start of MLflow's setup snippet: a sqlite tracking store in the work dir with one experiment,
    ``enable`` / ``disable`` with ``mlflow.<flavor>.autolog()``, no ``switch`` (turning it on and off takes
    milliseconds: the harness alternates batches of calls instead), ``flush``; the script adds ``check`` and
    ``VERSIONS``."""
    return f"""
import mlflow

mlflow.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "mlflow.db"))
mlflow.set_experiment("bench")


def enable():
    mlflow.{flavor}.autolog()


def disable():
    mlflow.{flavor}.autolog(disable=True)


switch = None  # turning MLflow's autolog on and off takes milliseconds: batches of calls instead


def flush():
    mlflow.flush_trace_async_logging()

"""


# the export of an OpenTelemetry-based peer: its TracerProvider's BatchSpanProcessor (its default way to
# export, on a thread of its own) hands the spans to this exporter, which writes each as a line of JSON into
# the work dir, as a store or collector would receive them
OTEL_EXPORT = r"""
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class JsonLinesExporter(SpanExporter):
    def __init__(self):
        self.file = open(os.path.join(CFG["workdir"], "spans.jsonl"), "w")
        self.spans = 0

    def export(self, spans):
        self.file.write("".join(span.to_json(indent=None) + "\n" for span in spans))
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        self.file.close()


EXPORTER = JsonLinesExporter()


def exporting_provider():
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(EXPORTER))
    return provider


def check():
    flush()
    assert EXPORTER.spans > 0, "no span exported"
"""


def otel_instrumentor_setup(module: str, instrumentor: str, distribution: str) -> str:
    """The setup of a peer that is an OpenTelemetry instrumentor (OpenInference, OpenLLMetry): ``enable`` /
    ``disable`` instrument and uninstrument it with its own TracerProvider (see ``OTEL_EXPORT``); ``switch``
    is the off switch every OpenTelemetry instrumentation checks on each call, the context key that
    suppresses instrumentation, so that it alternates call by call as spanlog's does."""
    return (
        OTEL_EXPORT
        + f"""
from opentelemetry import context as otel_context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from {module} import {instrumentor}

provider = exporting_provider()
INSTRUMENTOR = {instrumentor}()
_suppressed = []  # the token of the context that suppresses instrumentation, while it is attached


def enable():
    if not INSTRUMENTOR.is_instrumented_by_opentelemetry:
        INSTRUMENTOR.instrument(tracer_provider=provider)


def disable():
    switch(True)
    if INSTRUMENTOR.is_instrumented_by_opentelemetry:
        INSTRUMENTOR.uninstrument()


def switch(on):
    if on and _suppressed:
        otel_context.detach(_suppressed.pop())
    elif not on and not _suppressed:
        _suppressed.append(otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)))


def flush():
    provider.force_flush()


VERSIONS = {{{distribution!r}: version({distribution!r}), "openai": version("openai")}}
"""
    )


@dataclass
class Tracer:
    """One tracer's column: its interpreter, setup snippet and environment."""

    label: str
    python: str
    setup: str
    env: dict[str, str]


@dataclass
class Outcome:
    """What a tracer's subprocess reported, or why it failed."""

    data: dict[str, Any] | None = None
    error: str | None = None
    stderr: list[str] = field(default_factory=list)
    seconds: float = 0.0


def autolog_arguments(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """``--quick``, ``--no-mlflow`` and ``--write``, with the help texts of the autolog benchmarks."""
    return bench_arguments(
        doc,
        argv,
        no_mlflow="spanlog only (no peer venv needed)",
        write="write the table into docs/performance.md",
    )


def spanlog_tracer(integration: str, setup: str) -> Tracer:
    """spanlog's column: this interpreter, ``spanlog_setup(integration) + setup``, other plugins skipped."""
    return Tracer(
        "spanlog", sys.executable, spanlog_setup(integration) + setup, spanlog_env(keep=integration)
    )


def mlflow_tracer(python: str, flavor: str, setup: str) -> Tracer:
    """MLflow's column: the peer venv's ``python``, ``mlflow_setup(flavor) + setup``, telemetry off."""
    return Tracer("mlflow", python, mlflow_setup(flavor) + setup, mlflow_env())


def spanlog_env(keep: str) -> dict[str, str]:
    """This environment, with every spanlog plugin but ``keep`` (the integration measured) skipped: a plugin
    installed in the workspace, such as a span processor, would add its own cost to every span."""
    from importlib.metadata import entry_points

    others = sorted({ep.name for ep in entry_points(group="spanlog")} - {keep})
    env = dict(os.environ)
    if others:
        env["SPANLOG_DISABLE_PLUGINS"] = ",".join(others)
    return env


def mlflow_env() -> dict[str, str]:
    """The environment of an MLflow subprocess: the peer venv's (no workspace markers), telemetry off."""
    env = clean_env()
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark
    return env


def peer_python(name: str, requirements: list[str], probe: str, pinned: Iterable[str]) -> str:
    """bench/.venvs/<name> with ``requirements`` and each of ``pinned`` at the version installed in the
    workspace, so that both sides run the same library; (re)built when ``probe`` fails or a pinned version
    differs. Returns the venv's interpreter."""
    pins = {package: version(package) for package in pinned}
    differs = " or ".join(f"version({package!r}) != {wanted!r}" for package, wanted in pins.items())
    if differs:
        probe = f"{probe}; import sys; from importlib.metadata import version; sys.exit({differs})"
    pinned_requirements = [f"{package}=={wanted}" for package, wanted in pins.items()]
    return str(ensure_venv(name, [*requirements, *pinned_requirements], probe))


def run(
    tracer: Tracer,
    prelude: str,
    workload: str,
    settings: dict[str, object],
    workdir: Path,
    harness: str = HARNESS,
) -> Outcome:
    """Run the workloads for one tracer in a fresh subprocess (cwd: a temp dir, so stores land there): the
    code ``HEAD + prelude + tracer.setup + harness + workload`` (``harness=""`` for a script with its own).

    MLflow's added time is in milliseconds: its ``reps_a`` / ``reps_b`` (repetitions of batches) are
    ``settings["mlflow_reps"]``, fewer repetitions resolving it.
    """
    config = {**settings, "workdir": str(workdir)}
    if tracer.label == "mlflow":
        for key in ("reps_a", "reps_b"):
            if key in settings:
                config[key] = settings["mlflow_reps"]
    data, error, stderr, seconds = run_snippet(
        tracer.python, HEAD + prelude + tracer.setup + harness + workload, config, workdir, tracer.env
    )
    return Outcome(data=data, error=error, stderr=stderr, seconds=seconds)


def run_all(
    tracers: list[Tracer],
    prelude: str,
    workload: str,
    settings: dict[str, object],
    name: str,
    harness: str = HARNESS,
) -> dict[str, Outcome]:
    """Run every tracer in turn, each in a temp dir named after the benchmark, reporting progress on stderr."""
    outcomes: dict[str, Outcome] = {}
    for tracer in tracers:
        print(f"bench: {tracer.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=f"{name}_") as tmp:
            outcome = run(tracer, prelude, workload, settings, Path(tmp), harness)
        outcomes[tracer.label] = outcome
        status = f"failed: {outcome.error}" if outcome.error else "done"
        print(f"bench: {tracer.label} {status} ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
    return outcomes


def run_repeated(
    tracer: Tracer,
    runs: int,
    prelude: str,
    workload: str,
    settings: dict[str, object],
    name: str,
) -> Outcome:
    """``tracer``'s workloads in ``runs`` fresh subprocesses, one after the other, merged: each figure is the
    median over the runs, and ``runs_added_us`` keeps every run's added time (a small shared machine moves a
    single run's figures by tens of per cent; the spread says how far)."""
    outcomes = [run_all([tracer], prelude, workload, settings, name)[tracer.label] for _ in range(runs)]
    good = [outcome for outcome in outcomes if outcome.data is not None]
    if not good:
        return outcomes[0]
    first = good[0].data
    assert first is not None
    merged: dict[str, Any] = dict(first)
    for key, measured in first.items():
        if not isinstance(measured, dict) or "added_us" not in measured:
            continue  # "versions" and the like: as the first run reported them
        per_run = [outcome.data[key] for outcome in good]  # type: ignore[index]
        combined = dict(measured)
        for field_name, field_value in measured.items():
            if isinstance(field_value, (int, float)):
                combined[field_name] = statistics.median(float(r[field_name]) for r in per_run)
        combined["runs_added_us"] = [float(r["added_us"]) for r in per_run]
        combined["runs_added_ci_us"] = [r.get("added_ci_us") for r in per_run]
        combined.pop("added_ci_us", None)  # the first run's: it does not describe the median over the runs
        merged[key] = combined
    return Outcome(
        data=merged,
        stderr=[line for outcome in outcomes for line in outcome.stderr],
        seconds=sum(outcome.seconds for outcome in outcomes),
    )


def runs_note(outcomes: dict[str, Outcome], label: str, workloads: dict[str, str]) -> str:
    """ "spanlog adds, run by run: A 41, 57, 60; B ..." for a tracer measured by :func:`run_repeated`."""
    parts = []
    for key, title in workloads.items():
        outcome = outcomes.get(label)
        data = outcome.data if outcome is not None else None
        measured = data.get(key) if data else None
        runs = measured.get("runs_added_us") if isinstance(measured, dict) else None
        if runs and len(runs) > 1:
            intervals = measured.get("runs_added_ci_us") or [None] * len(runs)
            parts.append(
                f"{title} " + ", ".join(_with_ci(v, ci) for v, ci in zip(runs, intervals, strict=True))
            )
    if not parts:
        return ""
    return (
        f"{label} adds, run by run, with the 95% confidence interval of each run's median in brackets (µs): "
        + "; ".join(parts)
        + "."
    )


def _with_ci(added: float, interval: list[float] | None) -> str:
    """ "46.1 [38.2, 55.0]", or the figure alone when the run reported no interval."""
    if not interval or len(interval) != 2:
        return num(added)
    return f"{num(added)} [{num(interval[0])}, {num(interval[1])}]"


# --- the table --------------------------------------------------------------------------------------------

SPANLOG_NOTE = (
    "spanlog: default settings (store exporter into SQLite in a temp dir); other installed spanlog plugins "
    "skipped (`SPANLOG_DISABLE_PLUGINS`). Garbage collection stays on; objects created before the "
    "measurement are frozen (`gc.freeze()`) in both processes."
)


def value(outcomes: dict[str, Outcome], label: str, workload: str, key: str) -> float | None:
    """``key`` of ``workload`` ("a", "b") as the tracer ``label`` reported it; None when missing or failed."""
    outcome = outcomes.get(label)
    if outcome is None or outcome.data is None:
        return None
    measured = outcome.data[workload].get(key)
    return None if measured is None else float(measured)


def header(outcomes: dict[str, Outcome], unit: str) -> list[str]:
    """The columns every autolog table has, in µs per ``unit``: spanlog's, then MLflow's when it ran."""
    columns = ["workload", f"no tracing (µs/{unit})", f"spanlog adds (µs/{unit})", f"A/A noise (µs/{unit})"]
    if "mlflow" in outcomes:
        columns += [f"MLflow adds (µs/{unit})", "MLflow/spanlog"]
    return columns


def mlflow_ratio(outcomes: dict[str, Outcome], workload: str) -> float | None:
    """What MLflow adds to ``workload`` divided by what spanlog adds."""
    return ratio(
        value(outcomes, "mlflow", workload, "added_us"), value(outcomes, "spanlog", workload, "added_us")
    )


def cells(outcomes: dict[str, Outcome], workload: str) -> list[str]:
    """The cells of ``header``'s measured columns for one workload (without its title)."""
    row = [num(value(outcomes, "spanlog", workload, key)) for key in ("plain_us", "added_us", "noise_us")]
    if "mlflow" in outcomes:
        row += [num(value(outcomes, "mlflow", workload, "added_us")), times(mlflow_ratio(outcomes, workload))]
    return row


def ratio_target(vs: float | None, min_ratio: float) -> str:
    """The verdict on spanlog's target of adding at most 1/``min_ratio`` of what MLflow adds."""
    return verdict(f"≤ 1/{min_ratio:.0f} of MLflow's", vs, lambda v: v >= min_ratio)


def markdown_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    """The table's lines: numbers right-aligned, the first (what is measured) and target columns left-aligned."""
    rule = ["---" if i == 0 or column == "target" else "---:" for i, column in enumerate(columns)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(rule) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def compose(lines: list[str], notes: list[str], outcomes: dict[str, Outcome]) -> str:
    """The table, its notes as one paragraph, and the machine line."""
    machine = machine_line(outcome.data for outcome in outcomes.values())
    return "\n".join([*lines, "", " ".join(notes), "", machine]) + "\n"


# --- the end of a run -------------------------------------------------------------------------------------


def write_doc(table: str, name: str, heading: str) -> None:
    """Put the table between the ``<!-- name:start -->`` and ``<!-- name:end -->`` markers of
    docs/performance.md, or append it under a ``## heading`` with the markers when they are missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = DOC.read_text(encoding="utf-8")
    replaced = replace_marked(text, start, end, table)
    if replaced is None:
        replaced = text.rstrip("\n") + f"\n\n## {heading}\n\n{start}\n{table}{end}\n"
    DOC.write_text(replaced, encoding="utf-8")


def finish(
    table: str, outcomes: dict[str, Outcome], write: bool, name: str, heading: str, started: float
) -> int:
    """Print the table and the tracers' stderr; with ``write`` and no failure, write the doc. Exit code."""
    print(table)
    for label, outcome in outcomes.items():
        if outcome.stderr:
            shown = outcome.stderr[:12]
            print(f"stderr of {label}:", *(f"  {line}" for line in shown), sep="\n", file=sys.stderr)
    failed = [label for label, outcome in outcomes.items() if outcome.error]
    if failed:
        print(f"bench: failed: {', '.join(failed)}; docs not written", file=sys.stderr)
        return 1
    if write:
        write_doc(table, name, heading)
        print(f"bench: wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    print(f"bench: total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0
