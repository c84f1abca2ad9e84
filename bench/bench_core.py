"""Core tracing overhead of spanlog next to raw OpenTelemetry and MLflow Tracing, measured in one run.

Why: spanlog promises MLflow's fluent tracing API at the cost of plain OpenTelemetry. This script checks the
promise on the same workloads, in the same run and on the same machine, so the ratios mean something even
when the absolute numbers depend on the machine:

    A  a decorated no-op ``f(x, y=2)`` called as a root span (one trace per call), in µs per call,
       minus the cost of the undecorated call;
    B  one root span with 1,000 decorated children ``child(i)``, in µs per child;
    C  import time (``python -c "import X"`` minus ``python -c pass``), in ms.

Each tracer runs its workloads in a fresh subprocess (a small Python snippet that prints JSON): spanlog and
raw OTel with this interpreter, MLflow 3.x with the interpreter of bench/.venvs/mlflow (built on first use).
The markdown table goes to stdout and, by default, into docs/performance.md between the bench_core markers.

    python dev.py run python bench/bench_core.py              # full run, writes docs/performance.md
    python dev.py run python bench/bench_core.py --quick      # smoke test, writes nothing
    python dev.py run python bench/bench_core.py --no-mlflow  # spanlog and OTel only, writes nothing
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
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
START, END = "<!-- bench_core:start -->", "<!-- bench_core:end -->"
MLFLOW_REQUIREMENTS = ["mlflow>=3,<4"]
MLFLOW_PROBE = "import mlflow, mlflow.config; mlflow.config.enable_async_logging"

# Targets shown in the table (spanlog's performance promise).
MAX_OTEL_RATIO = 1.5  # spanlog / raw OTel on A and B
MIN_MLFLOW_RATIO = 20.0  # MLflow (default) / spanlog on A
MAX_IMPORT_MS = 150.0  # what `import spanlog` adds to interpreter start-up

# --- snippets run in the subprocesses: PRELUDE + one tracer's setup + WORKLOADS ---------------------------

PRELUDE = """
import json, statistics, sys, time
from importlib.metadata import version
CFG = json.loads(sys.argv[1])
"""

SPANLOG_SETUP = """
import spanlog

trace = spanlog.trace
span = spanlog.start_span
_flush = getattr(spanlog, "flush_trace_async_logging", None)


def flush():
    if _flush is not None:
        _flush()


VERSIONS = {"spanlog": version("spanlog"), "opentelemetry-sdk": version("opentelemetry-sdk")}
"""

# Raw OTel doing the work a tracing decorator does: bind the arguments (defaults included), serialize inputs
# and outputs as JSON span attributes, export through a BatchSpanProcessor (to a no-op exporter).
OTEL_SETUP = """
import functools, inspect
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class NoopExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(NoopExporter()))
tracer = provider.get_tracer("bench")


def trace(fn):
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with tracer.start_as_current_span(fn.__name__) as s:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            s.set_attribute("inputs", json.dumps(bound.arguments, default=str))
            result = fn(*args, **kwargs)
            s.set_attribute("outputs", json.dumps(result, default=str))
            return result

    return wrapper


def span(name):
    return tracer.start_as_current_span(name)


def flush():
    provider.force_flush()


VERSIONS = {"opentelemetry-sdk": version("opentelemetry-sdk")}
"""

MLFLOW_SETUP = """
import os
import mlflow

mlflow.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "mlflow.db"))
mlflow.set_experiment("bench")
if CFG["async_logging"] is not None:
    mlflow.config.enable_async_logging(CFG["async_logging"])
trace = mlflow.trace
span = mlflow.start_span


def flush():
    mlflow.flush_trace_async_logging()


VERSIONS = {"mlflow": version("mlflow")}
"""

WORKLOADS = """
def f(x, y=2):
    return x + y


def child(i):
    return {"i": i, "v": "x"}


def loop(fn, n):
    calls = range(n)
    start = time.perf_counter()
    for _ in calls:
        fn(1)
    return time.perf_counter() - start


def per_call(fn, max_calls):
    # Warm up (first calls may set up providers and stores), grow n until a loop is measurable,
    # then size a repetition to last ~target seconds.
    loop(fn, 3)
    flush()
    n = 1
    while True:
        elapsed = loop(fn, n)
        if elapsed >= CFG["target"] / 10 or n >= max_calls:
            break
        n = min(n * 4, max_calls)
    n = max(CFG["min_calls"], min(max_calls, round(n * CFG["target"] / max(elapsed, 1e-9))))
    times = []
    for _ in range(CFG["reps"]):
        flush()  # start every repetition with an empty export queue
        times.append(loop(fn, n) / n)
    flush()
    return statistics.median(times), n


def tree(traced_child, n_children):
    start = time.perf_counter()
    with span("root"):
        for i in range(n_children):
            traced_child(i)
    return time.perf_counter() - start


def per_child(traced_child):
    children = CFG["children"]
    tree(traced_child, min(children, 10))  # warm-up
    flush()
    warm = tree(traced_child, children)
    trees = max(1, min(CFG["max_trees"], round(CFG["target"] / max(warm, 1e-9))))
    times = []
    for _ in range(CFG["reps"]):
        flush()
        times.append(sum(tree(traced_child, children) for _ in range(trees)) / (trees * children))
    flush()
    return statistics.median(times), trees


plain, _ = per_call(f, 10**8)
traced, calls = per_call(trace(f), CFG["max_calls"])
child_s, trees = per_child(trace(child))
result = {
    "a_us": (traced - plain) * 1e6,
    "plain_us": plain * 1e6,
    "a_calls": calls,
    "b_us": child_s * 1e6,
    "b_trees": trees,
    "versions": VERSIONS,
}
print("BENCH_RESULT " + json.dumps(result), flush=True)
"""


@dataclass
class Tracer:
    """One column of the table: how to run its workload snippet, and what its import-time probe imports."""

    label: str
    python: str
    setup: str
    module: str
    env: dict[str, str]
    extra: dict[str, object] = field(default_factory=dict)
    max_calls: int = 10**7
    max_trees: int = 100
    import_of: str | None = None  # label of the column whose import time this one shares


@dataclass
class Outcome:
    """What a tracer's subprocess reported (or why it failed), plus its import time."""

    data: dict[str, object] | None = None
    error: str | None = None
    stderr: list[str] = field(default_factory=list)
    import_ms: float | None = None
    seconds: float = 0.0


def mlflow_tracers(python: str) -> list[Tracer]:
    """The three MLflow columns: default settings, then async and sync logging forced.

    ``mlflow.config.enable_async_logging`` only switches *run* logging (params, metrics); whether traces are
    exported in the background is ``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING`` (default true). Each forced column
    therefore sets both, so that "sync logging" really exports every trace on the caller's thread.
    """
    env = clean_env()
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark (not a tracing setting)
    env.pop("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", None)
    env.pop("MLFLOW_ENABLE_ASYNC_LOGGING", None)
    # Each export to the sqlite store takes tens of ms: 100 traces per repetition keep the run short.
    common = {"python": python, "setup": MLFLOW_SETUP, "module": "mlflow", "max_calls": 100, "max_trees": 1}
    columns = [("mlflow (default)", None), ("mlflow (async logging)", True), ("mlflow (sync logging)", False)]
    tracers = []
    for label, async_logging in columns:
        tracer_env = dict(env)
        if async_logging is not None:
            tracer_env["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = str(async_logging).lower()
        tracers.append(
            Tracer(
                label,
                env=tracer_env,
                extra={"async_logging": async_logging},
                import_of=None if async_logging is None else "mlflow (default)",
                **common,
            )
        )
    return tracers


def run_workloads(tracer: Tracer, settings: dict[str, object], workdir: Path) -> Outcome:
    """Run A and B for one tracer in a fresh subprocess (cwd: a temp dir, so stores land there)."""
    config = {**settings, **tracer.extra, "max_calls": tracer.max_calls, "workdir": str(workdir)}
    config["max_trees"] = min(int(settings["max_trees"]), tracer.max_trees)
    data, error, stderr, seconds = run_snippet(
        tracer.python, PRELUDE + tracer.setup + WORKLOADS, config, workdir, tracer.env
    )
    return Outcome(data=data, error=error, stderr=stderr, seconds=seconds)


def import_ms(python: str, module: str, env: dict[str, str], runs: int) -> float:
    """Median wall time of ``python -c "import module"`` minus that of ``python -c pass``, in ms.

    Bytecode is written by the warm-up run (even if PYTHONDONTWRITEBYTECODE is set), so the measured runs
    import from cached bytecode as after a normal install, instead of compiling every module each time.
    """
    cmd_import, cmd_pass = [python, "-c", f"import {module}"], [python, "-c", "pass"]
    env = {key: val for key, val in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(cmd_import, env=env, check=True, capture_output=True)  # warm-up: bytecode, page cache
    base, loaded = [], []
    for _ in range(runs):  # interleaved, so drift in machine load hits both alike
        base.append(_wall(cmd_pass, env))
        loaded.append(_wall(cmd_import, env))
    return (statistics.median(loaded) - statistics.median(base)) * 1000


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


# --- table -------------------------------------------------------------------------------------------------


def render(tracers: list[Tracer], outcomes: dict[str, Outcome], settings: dict[str, object]) -> str:
    """The markdown table, the targets and the machine line."""

    def value(label: str, key: str) -> float | None:
        outcome = outcomes.get(label)
        if outcome is None:
            return None
        if key == "import_ms":
            return outcome.import_ms
        return None if outcome.data is None else float(outcome.data[key])  # type: ignore[arg-type]

    labels = [t.label for t in tracers]
    mlflow_labels = [label for label in labels if label.startswith("mlflow")]
    baseline = "mlflow (default)" if mlflow_labels else None
    header = ["workload", *labels, "spanlog/OTel"] + (["MLflow/spanlog"] if baseline else []) + ["target"]
    workloads = [
        ("A. decorated no-op call, one trace per call (µs/call)", "a_us"),
        (f"B. decorated child under one root, {settings['children']:,} children (µs/child)", "b_us"),
        ("C. import (ms over `python -c pass`)", "import_ms"),
    ]
    rows = []
    for title, key in workloads:
        cells = [title]
        for tracer in tracers:
            if key == "import_ms" and tracer.import_of:
                cells.append("same")
            else:
                cells.append(num(value(tracer.label, key)))
        spanlog = value("spanlog", key)
        vs_otel = ratio(spanlog, value("raw OTel", key))
        cells.append(times(vs_otel))
        vs_mlflow = ratio(value(baseline, key), spanlog) if baseline else None
        if baseline:
            cells.append(times(vs_mlflow))
        if key == "import_ms":
            target = verdict(f"spanlog adds ≤ {MAX_IMPORT_MS:.0f} ms", spanlog, lambda v: v <= MAX_IMPORT_MS)
        else:
            target = verdict(f"spanlog/OTel ≤ {MAX_OTEL_RATIO}x", vs_otel, lambda v: v <= MAX_OTEL_RATIO)
            if key == "a_us" and baseline:
                target += "; " + verdict(
                    f"MLflow/spanlog ≥ {MIN_MLFLOW_RATIO:.0f}x", vs_mlflow, lambda v: v >= MIN_MLFLOW_RATIO
                )
        cells.append(target)
        rows.append(cells)

    rule = ["---", *["---:"] * (len(header) - 2), "---"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    lines.append("")
    plain = [value(label, "plain_us") for label in labels if value(label, "plain_us") is not None]
    notes = [
        f"Medians of {settings['reps']} repetitions after a warm-up; A subtracts the undecorated call "
        f"({num(min(plain) if plain else None)} µs); C is the median of {settings['import_runs']} runs.",
    ]
    sizes = []
    for label in labels:
        data = outcomes[label].data if label in outcomes else None
        if data:
            sizes.append(f"{label} {data['a_calls']} calls x {data['b_trees']} tree(s)")
    if sizes:
        notes.append("Per repetition: " + ", ".join(sizes) + ".")
    if mlflow_labels:
        notes.append(
            "MLflow: sqlite tracking store in a temp dir, one experiment; async/sync logging = "
            "`mlflow.config.enable_async_logging(True/False)` plus "
            "`MLFLOW_ENABLE_ASYNC_TRACE_LOGGING=true/false` (the former alone does not affect traces); "
            "telemetry off."
        )
    notes.append(_machine(outcomes))
    return "\n".join([*lines, " ".join(notes[:-1]), "", notes[-1]]) + "\n"


def _machine(outcomes: dict[str, Outcome]) -> str:
    return machine_line(outcome.data for outcome in outcomes.values())


def write_doc(table: str) -> None:
    """Put the table between the bench_core markers of docs/performance.md (creating the file if needed)."""
    block = f"{START}\n{table}{END}"
    if not DOC.exists():
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(
            "# Performance\n\n"
            "What tracing costs the traced application, measured by the scripts in `bench/` "
            "(see `bench/README.md`). Absolute numbers depend on the machine; the ratios between tracers, "
            "measured in the same run, are what to compare.\n\n"
            "## Core tracing\n\n"
            "`python dev.py run python bench/bench_core.py`: spanlog, the raw OpenTelemetry SDK and "
            "MLflow Tracing on the same workloads.\n\n"
            f"{block}\n"
        )
        return
    text = DOC.read_text()
    replaced = replace_marked(text, START, END, table)
    DOC.write_text(
        replaced if replaced is not None else text.rstrip("\n") + f"\n\n## Core tracing\n\n{block}\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(__doc__, argv)
    started = time.perf_counter()
    settings: dict[str, object] = {
        "reps": 3 if args.quick else 7,
        "target": 0.05 if args.quick else 0.3,
        "min_calls": 3 if args.quick else 5,
        "children": 1000,
        "max_trees": 3 if args.quick else 100,
        "import_runs": 3 if args.quick else 7,
    }
    workspace_env = dict(os.environ)
    tracers = [
        Tracer("spanlog", sys.executable, SPANLOG_SETUP, "spanlog", workspace_env),
        Tracer("raw OTel", sys.executable, OTEL_SETUP, "opentelemetry.sdk.trace", workspace_env),
    ]
    if not args.no_mlflow:
        python = ensure_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE)
        tracers += mlflow_tracers(str(python))

    outcomes: dict[str, Outcome] = {}
    for tracer in tracers:
        print(f"bench: {tracer.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_core_") as tmp:
            outcome = run_workloads(tracer, settings, Path(tmp))
        if outcome.data is not None and not tracer.import_of:
            outcome.import_ms = import_ms(
                tracer.python, tracer.module, tracer.env, int(settings["import_runs"])
            )
        outcomes[tracer.label] = outcome
        status = f"failed: {outcome.error}" if outcome.error else "done"
        print(f"bench: {tracer.label} {status} ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
    for tracer in tracers:
        if tracer.import_of and tracer.import_of in outcomes:
            outcomes[tracer.label].import_ms = outcomes[tracer.import_of].import_ms

    table = render(tracers, outcomes, settings)
    print(table)
    for label, outcome in outcomes.items():
        if outcome.stderr:
            shown = outcome.stderr[:12]
            more = f" (+{len(outcome.stderr) - len(shown)} more)" if len(outcome.stderr) > len(shown) else ""
            print(f"stderr of {label}{more}:", *(f"  {line}" for line in shown), sep="\n", file=sys.stderr)
    failed = [label for label, outcome in outcomes.items() if outcome.error]
    elapsed = time.perf_counter() - started
    if failed:
        print(f"bench: failed: {', '.join(failed)}; docs not written ({elapsed:.0f} s)", file=sys.stderr)
        return 1
    if args.write or not (args.quick or args.no_mlflow):
        write_doc(table)
        print(f"bench: wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    print(f"bench: total {elapsed:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
