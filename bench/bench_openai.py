"""What OpenAI autolog adds to a ``chat.completions.create`` call: spanlog next to MLflow, in one run.

Why: ``spanlog.openai.autolog()`` promises to trace every call at no noticeable cost. This script times the
same call through the real OpenAI SDK against an in-process fake transport (an ``httpx``/``httpx2``
``MockTransport`` returning a canned completion), so that no network is timed and the SDK's own work is the
same with and without tracing:

    A  ``client.chat.completions.create(...)``, non-streamed, in µs per call;
    B  the same call with ``stream=True`` (20 content chunks, a finish chunk and a usage chunk), consumed.

For each, "adds" is the time added on the caller's thread, and "CPU added incl. export" the CPU time of the
whole process per call, the tracer's background export included (batches of calls, each then flushed).

Each tracer runs in its own fresh subprocess. spanlog (this interpreter, default store exporter): single
calls with autolog off, on, and off again, in random order, switched with ``autolog(log_traces=...)``, so
that neighbouring calls share the machine's state; "adds" is the median of on minus off, and off-again
minus off shows the noise (A/A). MLflow 3.x (bench/.venvs/mlflow, built by bench_core's helper on first use,
with the workspace's openai version added; sqlite tracking store): switching its autolog takes
milliseconds, so batches of calls alternate instead. Other installed spanlog plugins are skipped.

    python dev.py run python bench/bench_openai.py            # full run (~2 min), prints the table
    python dev.py run python bench/bench_openai.py --write    # ... and writes it into docs/performance.md
    python dev.py run python bench/bench_openai.py --quick    # smoke test: few, short repetitions
    python dev.py run python bench/bench_openai.py --no-mlflow
"""

from __future__ import annotations

import json
import os
import shutil
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
START, END = "<!-- bench_openai:start -->", "<!-- bench_openai:end -->"
RESULT_PREFIX = "BENCH_RESULT "
MLFLOW_REQUIREMENTS = ["mlflow>=3,<4"]
MLFLOW_PROBE = "import mlflow, mlflow.config; mlflow.config.enable_async_logging"

MAX_ADDED_US = 50.0  # spanlog's target: at most this much added per call
MIN_MLFLOW_RATIO = 10.0  # ... and at most 1/10 of what MLflow adds

# --- the snippet each tracer's subprocess runs: PRELUDE + the tracer's setup + WORKLOAD -----------------------

PRELUDE = r"""
import gc, json, os, statistics, sys, time
from importlib.metadata import version

CFG = json.loads(sys.argv[1])

import openai
import openai._base_client as _base_client

httpx = getattr(_base_client, "httpx2", None) or _base_client.httpx  # what this openai version sends through

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant. Answer in two or three sentences."},
    {"role": "user", "content": "What does a tracing library record about a call to a language model?"},
]
REPLY = (
    "It records the request (model, messages, parameters), the response (the reply, tool calls and the "
    "finish reason), token usage, timings and any error, as a span nested in the trace of the request."
)
USAGE = {"prompt_tokens": 41, "completion_tokens": 39, "total_tokens": 80}
CREATED = 1732000000
COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": MODEL,
    "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY, "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": USAGE,
}).encode()


def _chunk(delta, finish=None, usage=None, choices=True):
    data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
    if usage is not None:
        data["usage"] = usage
    return b"data: " + json.dumps(data).encode() + b"\n\n"


_words = REPLY.split(" ")
_pieces = [" " + word for word in _words[: CFG["chunks"]]]  # CFG["chunks"] content chunks
STREAM = b"".join(
    [_chunk({"role": "assistant", "content": ""})]
    + [_chunk({"content": piece}) for piece in _pieces]
    + [_chunk({}, finish="stop"), _chunk(None, usage=USAGE, choices=False), b"data: [DONE]\n\n"]
)


def handler(request):
    if b'"stream":true' in request.content.replace(b" ", b""):
        return httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, content=COMPLETION, headers={"content-type": "application/json"})


client = openai.OpenAI(
    api_key="sk-bench", base_url="https://api.openai.com/v1", max_retries=0,
    http_client=httpx.Client(transport=httpx.MockTransport(handler)),
)


def call():
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=128, temperature=0.2)


def call_stream():
    for _ in client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=128, temperature=0.2, stream=True,
        stream_options={"include_usage": True},
    ):
        pass
"""

SPANLOG_SETUP = r"""
import spanlog

spanlog.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "spanlog.db"))


def enable():
    spanlog.openai.autolog()


def disable():
    spanlog.openai.autolog(disable=True)


def switch(on):
    # a settings change only (the patches stay): cheap enough to alternate call by call
    spanlog.openai.autolog(log_traces=on)


def flush():
    spanlog.flush_trace_async_logging()


def check():
    trace = spanlog.get_last_active_trace()
    assert trace is not None and trace.data.spans[0].name == "chat.completions.create", trace
    assert trace.info.token_usage == {"input_tokens": 41, "output_tokens": 39, "total_tokens": 80}


VERSIONS = {"spanlog": version("spanlog"), "openai": version("openai")}
"""

MLFLOW_SETUP = r"""
import mlflow

mlflow.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "mlflow.db"))
mlflow.set_experiment("bench")


def enable():
    mlflow.openai.autolog()


def disable():
    mlflow.openai.autolog(disable=True)


switch = None  # turning MLflow's autolog on and off takes milliseconds: batches of calls instead


def flush():
    mlflow.flush_trace_async_logging()


def check():
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None and trace.data.spans[0].span_type == "CHAT_MODEL", trace


VERSIONS = {"mlflow": version("mlflow"), "openai": version("openai")}
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


def measure(fn, reps):
    disable()
    loop(fn, 30)  # warm-up: imports, pydantic validators, the client's connection pool
    enable()
    loop(fn, 5)
    check()
    flush()
    disable()
    # the SDK's and the tracers' module-level objects are not what is measured: keep the cyclic collector's
    # full passes over them out of the timings
    gc.collect()
    gc.freeze()
    arms, n = (by_calls if switch is not None else by_batches)(fn, reps)
    off, on, off2 = arms["off"], arms["on"], arms["off2"]
    result = {
        "plain_us": statistics.median(off) * 1e6,
        "added_us": statistics.median(b - a for a, b in zip(off, on)) * 1e6,
        "calls": n,
        "reps": len(on),
        "cpu_added_us": cpu_cost(fn, CFG["cpu_calls"], CFG["cpu_reps"]),
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
    """bench/.venvs/mlflow with the workspace's openai version added (the same SDK on both sides)."""
    python = ensure_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE)
    wanted = version("openai")
    probe = f"import openai, sys; sys.exit(openai.__version__ != {wanted!r})"
    if subprocess.run([str(python), "-c", probe], capture_output=True, env=clean_env()).returncode != 0:
        print(f"bench: adding openai=={wanted} to {python.parent.parent}", file=sys.stderr, flush=True)
        uv = shutil.which("uv")
        install = (
            [uv, "pip", "install", "--quiet", "--python", str(python)]
            if uv
            else [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        )
        subprocess.run([*install, f"openai=={wanted}"], check=True, env=clean_env())
    return str(python)


def spanlog_env() -> dict[str, str]:
    """This environment, with every spanlog plugin but the OpenAI integration skipped (a plugin installed
    in the workspace, such as a span processor, would add its own cost to every span)."""
    from importlib.metadata import entry_points

    others = sorted({ep.name for ep in entry_points(group="spanlog")} - {"openai"})
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
    header = ["workload", "no tracing (µs/call)", "spanlog adds (µs/call)", "A/A noise (µs/call)"]
    if have_mlflow:
        header += ["MLflow adds (µs/call)", "MLflow/spanlog"]
    header.append("CPU added incl. export: spanlog" + (" / MLflow" if have_mlflow else "") + " (µs/call)")
    header.append("target")
    workloads = [
        ("A. `chat.completions.create`, non-streamed", "a"),
        (
            f"B. `chat.completions.create(stream=True)`, {settings['chunks']} content chunks, read to the end",
            "b",
        ),
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
        target = verdict(f"spanlog adds ≤ {MAX_ADDED_US:.0f} µs", added, lambda v: v <= MAX_ADDED_US)
        if have_mlflow:
            m_added = get("mlflow", key, "added_us")
            vs = ratio(m_added, added)
            cells += [num(m_added), times(vs)]
            target += "; " + verdict(
                f"≤ 1/{MIN_MLFLOW_RATIO:.0f} of MLflow's", vs, lambda v: v >= MIN_MLFLOW_RATIO
            )
        cpu = [num(get("spanlog", key, "cpu_added_us"))]
        if have_mlflow:
            cpu.append(num(get("mlflow", key, "cpu_added_us")))
        cells += [" / ".join(cpu), target]
        rows.append(cells)
    rule = ["---", *["---:"] * (len(header) - 2), "---"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    notes = [
        "Time added on the caller's thread per call, with the SDK sending through an in-process "
        "`MockTransport` that returns a canned completion (no network timed); each call is a trace of its own. "
        "spanlog: medians over "
        f"{settings['reps_a']:,} (A) / {settings['reps_b']:,} (B) repetitions of three single calls in "
        "random order: autolog off, on, and off again (`spanlog.openai.autolog(log_traces=...)` switches "
        'between calls, so neighbouring calls share the machine\'s state). "adds" is the median of on minus '
        'off, "A/A noise" the median of off-again minus off. spanlog\'s exporter thread writes the traces to '
        "the store while the calls go on: what that takes from the caller (its share of the GIL) falls on all "
        'three arms alike, so "adds" is the work done on the caller\'s thread (the queue is flushed every 50 '
        "repetitions, outside the timing)."
    ]
    if have_mlflow:
        m = [get("mlflow", key, "plain_us") for key in ("a", "b")]
        batches = [
            "n/a" if v is None else f"{v:.0f}" for v in (get("mlflow", key, "calls") for key in ("a", "b"))
        ]
        notes.append(
            f"MLflow, whose autolog takes milliseconds to switch: medians over {settings['mlflow_reps']} "
            "repetitions of a batch with autolog off and one with it on (`mlflow.openai.autolog(disable=...)`), "
            f"{batches[0]} (A) / {batches[1]} (B) calls per batch, its async trace queue flushed "
            f"outside the timing; untraced calls in its virtualenv: A {num(m[0])} µs, B {num(m[1])} µs. "
            "Sqlite tracking store in a temp dir, one experiment, telemetry off."
        )
    notes.append(
        f"CPU added incl. export: process CPU time (every thread) per call, tracing on minus off, medians over "
        f"{settings['cpu_reps']} alternating batches of {settings['cpu_calls']} calls, each batch followed by a "
        "flush, so that writing the traces to the store is counted too."
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
    """Put the table between the bench_openai markers of docs/performance.md."""
    text = DOC.read_text(encoding="utf-8")
    replaced = replace_marked(text, START, END, table)
    if replaced is None:
        replaced = text.rstrip("\n") + f"\n\n## OpenAI autolog\n\n{START}\n{table}{END}\n"
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
        "reps_b": 60 if args.quick else 600,
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of calls per arm
        "batch_s": 0.01 if args.quick else 0.05,
        "chunks": 20,
        "cpu_calls": 10 if args.quick else 50,  # CPU incl. export: calls per batch ...
        "cpu_reps": 3 if args.quick else 15,  # ... and batches per arm
    }
    tracers = [Tracer("spanlog", sys.executable, SPANLOG_SETUP, spanlog_env())]
    if not args.no_mlflow:
        env = clean_env()
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark
        tracers.append(Tracer("mlflow", mlflow_python(), MLFLOW_SETUP, env))

    outcomes: dict[str, Outcome] = {}
    for tracer in tracers:
        print(f"bench: {tracer.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_openai_") as tmp:
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
