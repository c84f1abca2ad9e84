"""What LangChain autolog adds to ``chain.invoke``: spanlog next to MLflow, in one run.

Why: ``spanlog.langchain.autolog()`` traces every run of a LangChain app; its cost must stay small next to
LangChain's own. This script times ``chain.invoke`` of a 3-step LCEL chain, ``ChatPromptTemplate |
FakeListChatModel | StrOutputParser``: LangChain's own fake chat model, so no network is timed and the
chain does the same work with and without tracing. Each call is a trace of four spans.

Each tracer runs in its own fresh subprocess. spanlog (this interpreter, default store exporter): single
calls with autolog off, on, and off again, in random order, switched with ``autolog(log_traces=...)``, so
that neighbouring calls share the machine's state; "adds" is the median of on minus off, and off-again
minus off shows the noise (A/A). MLflow 3.x (bench/.venvs/mlflow-langchain, created on first use with the
workspace's langchain-core version; sqlite tracking store): switching its autolog takes milliseconds, so
batches of calls alternate instead. Other installed spanlog plugins are skipped.

    python dev.py run python bench/bench_langchain.py            # full run (~2 min), prints the table
    python dev.py run python bench/bench_langchain.py --write    # ... and writes it into docs/performance.md
    python dev.py run python bench/bench_langchain.py --quick    # smoke test: few, short repetitions
    python dev.py run python bench/bench_langchain.py --no-mlflow
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
START, END = "<!-- bench_langchain:start -->", "<!-- bench_langchain:end -->"
RESULT_PREFIX = "BENCH_RESULT "
LIBRARY = "langchain-core"
MLFLOW_PROBE = "import mlflow, mlflow.langchain, langchain_core"

MIN_MLFLOW_RATIO = 5.0  # spanlog's target: at most 1/5 of what MLflow adds

# --- the snippet each tracer's subprocess runs: PRELUDE + the tracer's setup + WORKLOAD -----------------------

PRELUDE = r"""
import gc, json, os, statistics, sys, time
from importlib.metadata import version

CFG = json.loads(sys.argv[1])

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

REPLY = (
    "It records the request (model, messages, parameters), the response (the reply, tool calls and the "
    "finish reason), token usage, timings and any error, as a span nested in the trace of the request."
)
prompt = ChatPromptTemplate.from_messages(
    [("system", "You are a concise assistant. Answer in two or three sentences."), ("user", "{question}")]
)
chain = prompt | FakeListChatModel(responses=[REPLY]) | StrOutputParser()
INPUT = {"question": "What does a tracing library record about a call to a language model?"}


def call():
    assert chain.invoke(INPUT) == REPLY
"""

SPANLOG_SETUP = r"""
import spanlog

spanlog.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "spanlog.db"))


def enable():
    spanlog.langchain.autolog()


def disable():
    spanlog.langchain.autolog(disable=True)


def switch(on):
    # a settings change only (the hook and patches stay): cheap enough to alternate call by call
    spanlog.langchain.autolog(log_traces=on)


def flush():
    spanlog.flush_trace_async_logging()


def check():
    trace = spanlog.get_last_active_trace()
    assert trace is not None and [s.span_type for s in trace.data.spans] == [
        "CHAIN", "CHAIN", "CHAT_MODEL", "PARSER"
    ], trace


VERSIONS = {"spanlog": version("spanlog"), "langchain-core": version("langchain-core")}
"""

MLFLOW_SETUP = r"""
import mlflow

mlflow.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "mlflow.db"))
mlflow.set_experiment("bench")


def enable():
    mlflow.langchain.autolog()


def disable():
    mlflow.langchain.autolog(disable=True)


switch = None  # turning MLflow's autolog on and off takes milliseconds: batches of calls instead


def flush():
    mlflow.flush_trace_async_logging()


def check():
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None and len(trace.data.spans) == 4, trace


VERSIONS = {"mlflow": version("mlflow"), "langchain-core": version("langchain-core")}
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
    # one call per arm, three arms per repetition in a random order: off, on, and off again (A/A noise)
    import random

    shuffle = random.Random(7).shuffle
    enable()
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


def measure(fn, reps):
    disable()
    loop(fn, 30)  # warm-up: imports, pydantic validators, LangChain's caches
    enable()
    loop(fn, 5)
    check()
    flush()
    disable()
    # LangChain's and the tracers' module-level objects are not what is measured: keep the cyclic
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


result = {"a": measure(call, CFG["reps_a"]), "versions": VERSIONS}
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
    """bench/.venvs/mlflow-langchain: MLflow 3 with the workspace's langchain-core version (the same library
    on both sides)."""
    requirements = ["mlflow>=3,<4", f"{LIBRARY}=={version(LIBRARY)}"]
    probe = f"{MLFLOW_PROBE}; import sys; sys.exit(langchain_core.__version__ != {version(LIBRARY)!r})"
    return str(ensure_venv("mlflow-langchain", requirements, probe))


def spanlog_env() -> dict[str, str]:
    """This environment, with every spanlog plugin but the LangChain integration skipped (a plugin installed
    in the workspace, such as a span processor, would add its own cost to every span)."""
    from importlib.metadata import entry_points

    others = sorted({ep.name for ep in entry_points(group="spanlog")} - {"langchain"})
    env = dict(os.environ)
    if others:
        env["SPANLOG_DISABLE_PLUGINS"] = ",".join(others)
    return env


def run(tracer: Tracer, settings: dict[str, object], workdir: Path) -> Outcome:
    """Run the workload for one tracer in a fresh subprocess (cwd: a temp dir, so stores land there)."""
    config = {**settings, "workdir": str(workdir)}
    if tracer.label == "mlflow":  # its added time is large: fewer repetitions of batches resolve it
        config["reps_a"] = settings["mlflow_reps"]
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

    def get(label: str, key: str) -> float | None:
        outcome = outcomes.get(label)
        if outcome is None or outcome.data is None:
            return None
        value = outcome.data["a"].get(key)
        return None if value is None else float(value)

    have_mlflow = "mlflow" in outcomes
    header = ["workload", "no tracing (µs/call)", "spanlog adds (µs/call)", "A/A noise (µs/call)"]
    if have_mlflow:
        header += ["MLflow adds (µs/call)", "MLflow/spanlog", "target"]
    added = get("spanlog", "added_us")
    cells = [
        "`chain.invoke`: `ChatPromptTemplate \\| FakeListChatModel \\| StrOutputParser` (4 spans)",
        num(get("spanlog", "plain_us")),
        num(added),
        num(get("spanlog", "noise_us")),
    ]
    if have_mlflow:
        m_added = get("mlflow", "added_us")
        vs = ratio(m_added, added)
        cells += [
            num(m_added),
            times(vs),
            verdict(f"≤ 1/{MIN_MLFLOW_RATIO:.0f} of MLflow's", vs, lambda v: v >= MIN_MLFLOW_RATIO),
        ]
    rule = ["---", *["---:"] * (len(header) - 2), "---" if have_mlflow else "---:"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|", "| " + " | ".join(cells) + " |"]
    notes = [
        "Time added on the caller's thread per `chain.invoke`, LangChain's fake chat model answering (no "
        "network timed); each call is a trace of its own. spanlog: medians over "
        f"{settings['reps_a']:,} repetitions of three single calls in random order: autolog off, on, and off "
        'again (`spanlog.langchain.autolog(log_traces=...)` switches between calls). "adds" is the median of '
        'on minus off, "A/A noise" the median of off-again minus off. spanlog\'s exporter thread writes the '
        "traces to the store while the calls go on; the queue is flushed every 50 repetitions, outside the "
        "timing."
    ]
    if have_mlflow:
        batch = get("mlflow", "calls")
        notes.append(
            f"MLflow, whose autolog takes milliseconds to switch: medians over {settings['mlflow_reps']} "
            "repetitions of a batch with `mlflow.langchain.autolog()` off and one with it on, "
            f"{'n/a' if batch is None else f'{batch:.0f}'} calls per batch, its async trace queue flushed "
            f"outside the timing; untraced calls in its virtualenv: {num(get('mlflow', 'plain_us'))} µs. "
            "Sqlite tracking store in a temp dir, one experiment, telemetry off."
        )
    notes.append(
        "spanlog: default settings (store exporter into SQLite in a temp dir); other installed spanlog plugins "
        "skipped (`SPANLOG_DISABLE_PLUGINS`). Garbage collection stays on; objects created before the "
        "measurement are frozen (`gc.freeze()`) in both processes."
    )
    machine = machine_line(outcome.data for outcome in outcomes.values())
    return "\n".join([*lines, "", " ".join(notes), "", machine]) + "\n"


def write_doc(table: str) -> None:
    """Put the table between the bench_langchain markers of docs/performance.md."""
    text = DOC.read_text(encoding="utf-8")
    replaced = replace_marked(text, START, END, table)
    if replaced is None:
        replaced = text.rstrip("\n") + f"\n\n## LangChain autolog\n\n{START}\n{table}{END}\n"
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
        "reps_a": 150 if args.quick else 1500,  # spanlog: one call per arm
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of calls per arm
        "batch_s": 0.01 if args.quick else 0.05,
    }
    tracers = [Tracer("spanlog", sys.executable, SPANLOG_SETUP, spanlog_env())]
    if not args.no_mlflow:
        env = clean_env()
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark
        tracers.append(Tracer("mlflow", mlflow_python(), MLFLOW_SETUP, env))

    outcomes: dict[str, Outcome] = {}
    for tracer in tracers:
        print(f"bench: {tracer.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_langchain_") as tmp:
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
