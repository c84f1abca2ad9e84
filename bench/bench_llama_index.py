"""What LlamaIndex autolog adds to a query: spanlog next to MLflow, in one run.

Why: ``spanlog.llama_index.autolog()`` promises to trace every query at no noticeable cost. This script times
the same query engine in every process: a ``VectorStoreIndex`` over a few documents, LlamaIndex's
``MockLLM`` and ``MockEmbedding`` (no network, no model), so that LlamaIndex's own work is the same with and
without tracing:

    A  ``query_engine.query(...)``: retrieve (one query embedding), synthesize (one LLM call), in µs per query;
    B  the same query streamed (``streaming=True``), the answer read to the end.

Each query is a trace of 11 spans in spanlog (10 streamed). Each tracer runs in its own fresh subprocess. spanlog (this
interpreter, default store exporter): single queries with autolog off, on, and off again, in random order,
switched with ``autolog()`` / ``autolog(disable=True)`` between queries (which adds or removes spanlog's two
handlers on LlamaIndex's dispatcher), so that neighbouring queries share the machine's state; "adds" is the
median of on minus off, and off-again minus off shows the noise (A/A). MLflow 3.x (bench/.venvs/mlflow-llama-index,
built on first use with the workspace's llama-index-core version; sqlite tracking store): switching its autolog
takes milliseconds, so batches of queries alternate instead. Other installed spanlog plugins are skipped.

    python dev.py run python bench/bench_llama_index.py            # full run (~3 min), prints the table
    python dev.py run python bench/bench_llama_index.py --write    # ... and writes it into docs/performance.md
    python dev.py run python bench/bench_llama_index.py --quick    # smoke test: few, short repetitions
    python dev.py run python bench/bench_llama_index.py --no-mlflow
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import bench_arguments, distinct_lines, machine_line, num, ratio, replace_marked, times, verdict
from _venvs import clean_env, ensure_venv

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench_llama_index:start -->", "<!-- bench_llama_index:end -->"
RESULT_PREFIX = "BENCH_RESULT "
MLFLOW_PROBE = "import mlflow, mlflow.llama_index, llama_index.core"

MIN_MLFLOW_RATIO = 5.0  # spanlog's target: at most 1/5 of what MLflow adds

# --- the snippet each tracer's subprocess runs: PRELUDE + the tracer's setup + WORKLOAD -----------------------

PRELUDE = r"""
import gc, json, os, statistics, sys, time
from importlib.metadata import version

CFG = json.loads(sys.argv[1])

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

Settings.llm = MockLLM(max_tokens=24)
Settings.embed_model = MockEmbedding(embed_dim=32)
DOCUMENTS = [
    Document(text="The Eiffel Tower is in Paris. It was finished in 1889.", doc_id="paris"),
    Document(text="The Colosseum is in Rome. It held gladiator fights.", doc_id="rome"),
    Document(text="Big Ben is the bell of the clock tower in London.", doc_id="london"),
    Document(text="The Brandenburg Gate is in Berlin.", doc_id="berlin"),
]
INDEX = VectorStoreIndex.from_documents(DOCUMENTS)
ENGINE = INDEX.as_query_engine(similarity_top_k=2)
STREAMING = INDEX.as_query_engine(similarity_top_k=2, streaming=True)
QUESTION = "Where is the Eiffel Tower, and when was it finished?"


def call():
    ENGINE.query(QUESTION)


def call_stream():
    for _ in STREAMING.query(QUESTION).response_gen:
        pass
"""

SPANLOG_SETUP = r"""
import spanlog

spanlog.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "spanlog.db"))


def enable():
    spanlog.llama_index.autolog()


def disable():
    spanlog.llama_index.autolog(disable=True)


def switch(on):
    # outside the timing: adds or removes spanlog's handlers, so "off" is LlamaIndex with no spanlog at all
    if on:
        enable()
    else:
        disable()


def flush():
    spanlog.flush_trace_async_logging()


def check():
    trace = spanlog.get_last_active_trace()
    assert trace is not None and trace.data.spans[0].name.startswith("RetrieverQueryEngine.query"), trace
    assert len(trace.data.spans) >= 10, [s.name for s in trace.data.spans]


VERSIONS = {"spanlog": version("spanlog"), "llama-index-core": version("llama-index-core")}
"""

MLFLOW_SETUP = r"""
import mlflow

mlflow.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "mlflow.db"))
mlflow.set_experiment("bench")


def enable():
    mlflow.llama_index.autolog()


def disable():
    mlflow.llama_index.autolog(disable=True)


switch = None  # turning MLflow's autolog on and off takes milliseconds: batches of queries instead


def flush():
    mlflow.flush_trace_async_logging()


def check():
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None and len(trace.data.spans) >= 5, trace


VERSIONS = {"mlflow": version("mlflow"), "llama-index-core": version("llama-index-core")}
"""

WORKLOAD = r"""
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
    # one query per arm, three arms per repetition in a random order: off, on, and off again (A/A noise)
    import random

    shuffle = random.Random(7).shuffle
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
    # batches of queries (for a tracer that is slow to switch), alternating off / on
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


def measure(fn, reps):
    disable()
    loop(fn, 30)  # warm-up: imports, pydantic validators, LlamaIndex's caches
    enable()
    loop(fn, 5)
    check()
    flush()
    disable()
    # LlamaIndex's and the tracers' module-level objects are not what is measured: keep the cyclic
    # collector's full passes over them out of the timings
    gc.collect()
    gc.freeze()
    arms, n = (by_calls if switch is not None else by_batches)(fn, reps)
    off, on, off2 = arms["off"], arms["on"], arms["off2"]
    result = {
        "plain_us": statistics.median(off) * 1e6,
        "added_us": statistics.median(b - a for a, b in zip(off, on)) * 1e6,
        "calls": n,
        "reps": len(on),
    }
    if off2:
        result["noise_us"] = statistics.median(b - a for a, b in zip(off, off2)) * 1e6
    return result


result = {
    "a": measure(call, CFG["reps_a"]),
    "b": measure(call_stream, CFG["reps_b"]),
    "versions": VERSIONS,
}
print("BENCH_RESULT " + json.dumps(result), flush=True)
"""


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


def mlflow_python() -> str:
    """bench/.venvs/mlflow-llama-index: MLflow with the workspace's llama-index-core version."""
    wanted = version("llama-index-core")
    probe = f"{MLFLOW_PROBE}; from importlib.metadata import version; assert version('llama-index-core') == {wanted!r}"
    return str(ensure_venv("mlflow-llama-index", ["mlflow>=3,<4", f"llama-index-core=={wanted}"], probe))


def spanlog_env() -> dict[str, str]:
    """This environment, with every spanlog plugin but the LlamaIndex integration skipped."""
    from importlib.metadata import entry_points

    others = sorted({ep.name for ep in entry_points(group="spanlog")} - {"llama_index"})
    env = dict(os.environ)
    if others:
        env["SPANLOG_DISABLE_PLUGINS"] = ",".join(others)
    return env


def run(tracer: Tracer, settings: dict[str, object], workdir: Path) -> Outcome:
    """Run A and B for one tracer in a fresh subprocess (cwd: a temp dir, so stores land there)."""
    config = {**settings, "workdir": str(workdir)}
    if tracer.label == "mlflow":  # its added time is in milliseconds: fewer repetitions resolve it
        config["reps_a"] = config["reps_b"] = settings["mlflow_reps"]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [tracer.python, "-c", PRELUDE + tracer.setup + WORKLOAD, json.dumps(config)],
            cwd=workdir,
            env=tracer.env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except subprocess.TimeoutExpired:
        return Outcome(error="timed out after 1800 s", seconds=time.perf_counter() - started)
    outcome = Outcome(seconds=time.perf_counter() - started, stderr=distinct_lines(proc.stderr))
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            outcome.data = json.loads(line[len(RESULT_PREFIX) :])
    if outcome.data is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        outcome.error = f"exit code {proc.returncode}, no result\n{tail}"
    return outcome


def render(outcomes: dict[str, Outcome], settings: dict[str, object]) -> str:
    """The markdown table, the notes and the machine line."""

    def get(label: str, workload: str, key: str) -> float | None:
        outcome = outcomes.get(label)
        if outcome is None or outcome.data is None:
            return None
        value = outcome.data[workload].get(key)
        return None if value is None else float(value)

    have_mlflow = "mlflow" in outcomes
    header = ["workload", "no tracing (µs/query)", "spanlog adds (µs/query)", "A/A noise (µs/query)"]
    if have_mlflow:
        header += ["MLflow adds (µs/query)", "MLflow/spanlog", "target"]
    workloads = [
        ("A. `query_engine.query(...)`, mock LLM and embedding", "a"),
        ("B. the same query streamed, read to the end", "b"),
    ]
    rows = []
    for title, key in workloads:
        added = get("spanlog", key, "added_us")
        cells = [
            title,
            num(get("spanlog", key, "plain_us")),
            num(added),
            num(get("spanlog", key, "noise_us")),
        ]
        if have_mlflow:
            m_added = get("mlflow", key, "added_us")
            vs = ratio(m_added, added)
            cells += [
                num(m_added),
                times(vs),
                verdict(f"≤ 1/{MIN_MLFLOW_RATIO:.0f} of MLflow's", vs, lambda v: v >= MIN_MLFLOW_RATIO),
            ]
        rows.append(cells)
    rule = ["---", *["---:"] * (len(header) - 2), "---"] if have_mlflow else ["---", *["---:"] * 3]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    notes = [
        "Time added on the caller's thread per query of a `VectorStoreIndex` query engine over four documents "
        "(top 2), with LlamaIndex's `MockLLM` and `MockEmbedding` (no network, no model); each query is a trace "
        "of its own (11 spans in spanlog; 10 streamed). spanlog: medians over "
        f"{settings['reps_a']:,} (A) / {settings['reps_b']:,} (B) repetitions of three single queries in "
        "random order: autolog off, on, and off again (`spanlog.llama_index.autolog()` / `autolog(disable=True)` "
        'between queries, outside the timing). "adds" is the median of on minus off, "A/A noise" the median of '
        "off-again minus off. spanlog's exporter thread writes the traces to the store while the queries go "
        "on; the queue is flushed every 50 repetitions, outside the timing."
    ]
    if have_mlflow:
        m = [get("mlflow", key, "plain_us") for key in ("a", "b")]
        batches = [
            "n/a" if v is None else f"{v:.0f}" for v in (get("mlflow", key, "calls") for key in ("a", "b"))
        ]
        notes.append(
            f"MLflow, whose autolog takes milliseconds to switch: medians over {settings['mlflow_reps']} "
            "repetitions of a batch with autolog off and one with it on "
            f"(`mlflow.llama_index.autolog(disable=...)`), {batches[0]} (A) / {batches[1]} (B) queries per "
            f"batch, its async trace queue flushed outside the timing; untraced queries in its virtualenv: "
            f"A {num(m[0])} µs, B {num(m[1])} µs. Sqlite tracking store in a temp dir, one experiment, "
            "telemetry off."
        )
    notes.append(
        "spanlog: default settings (store exporter into SQLite in a temp dir); other installed spanlog plugins "
        "skipped (`SPANLOG_DISABLE_PLUGINS`). Garbage collection stays on; objects created before the "
        "measurement are frozen (`gc.freeze()`) in both processes."
    )
    return "\n".join([*lines, "", " ".join(notes), "", _machine(outcomes)]) + "\n"


def _machine(outcomes: dict[str, Outcome]) -> str:
    return machine_line(outcome.data for outcome in outcomes.values())


def write_doc(table: str) -> None:
    """Put the table between the bench_llama_index markers of docs/performance.md."""
    text = DOC.read_text(encoding="utf-8")
    replaced = replace_marked(text, START, END, table)
    if replaced is None:
        replaced = text.rstrip("\n") + f"\n\n## LlamaIndex autolog\n\n{START}\n{table}{END}\n"
    DOC.write_text(replaced, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(
        __doc__,
        argv,
        no_mlflow="spanlog only (no peer venv needed)",
        write="write the table into docs/performance.md",
    )
    started = time.perf_counter()
    settings: dict[str, object] = {
        "reps_a": 100 if args.quick else 1000,  # spanlog: one query per arm
        "reps_b": 60 if args.quick else 600,
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of queries per arm
        "batch_s": 0.02 if args.quick else 0.2,
    }
    tracers = [Tracer("spanlog", sys.executable, SPANLOG_SETUP, spanlog_env())]
    if not args.no_mlflow:
        env = clean_env()
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark
        tracers.append(Tracer("mlflow", mlflow_python(), MLFLOW_SETUP, env))

    outcomes: dict[str, Outcome] = {}
    for tracer in tracers:
        print(f"bench: {tracer.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_llama_index_") as tmp:
            outcome = run(tracer, settings, Path(tmp))
        outcomes[tracer.label] = outcome
        status = f"failed: {outcome.error}" if outcome.error else "done"
        print(f"bench: {tracer.label} {status} ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)

    table = render(outcomes, settings)
    print(table)
    for label, outcome in outcomes.items():
        if outcome.stderr:
            shown = outcome.stderr[:12]
            print(f"stderr of {label}:", *(f"  {line}" for line in shown), sep="\n", file=sys.stderr)
    failed = [label for label, outcome in outcomes.items() if outcome.error]
    if failed:
        print(f"bench: failed: {', '.join(failed)}; docs not written", file=sys.stderr)
        return 1
    if args.write:
        write_doc(table)
        print(f"bench: wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    print(f"bench: total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
