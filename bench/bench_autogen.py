"""What AutoGen autolog adds per agent turn: spanlog next to MLflow, in one run.

Why: ``spanlog.autogen.autolog()`` promises to trace every agent run at no noticeable cost. This script times
autogen-agentchat runs whose model client is autogen-ext's ``ReplayChatCompletionClient`` (canned results,
no network), so the framework's own work is the same with and without tracing:

    A  ``await agent.run(task=...)`` of one AssistantAgent whose model calls a tool: one agent turn, which
       spanlog records as 4 spans (the run, the turn, the model call, the tool);
    B  ``await team.run(task=...)`` of a two-agent RoundRobinGroupChat ending after two replies: two agent
       turns inside autogen-core's runtime; reported per agent turn (the run's time divided by 2).

The agents and the replay client are reset between runs, outside the timing. Each tracer runs in its own
fresh subprocess. spanlog (this interpreter, default store exporter): single runs with autolog off, on, and
off again, in random order, switched with ``autolog(log_traces=...)``; "adds" is the median of on minus off,
and off-again minus off shows the noise (A/A). MLflow 3.x (its own virtualenv, bench/.venvs/mlflow-autogen,
with the workspace's autogen-agentchat and autogen-ext versions; sqlite tracking store) with
``mlflow.autogen.autolog()``: switching it takes milliseconds, so batches of runs alternate instead.

    python dev.py run python bench/bench_autogen.py            # full run (a few minutes), prints the table
    python dev.py run python bench/bench_autogen.py --write    # ... and writes it into docs/performance.md
    python dev.py run python bench/bench_autogen.py --quick    # smoke test: few, short repetitions
    python dev.py run python bench/bench_autogen.py --no-mlflow
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
START, END = "<!-- bench_autogen:start -->", "<!-- bench_autogen:end -->"
RESULT_PREFIX = "BENCH_RESULT "
MLFLOW_VENV = "mlflow-autogen"
MLFLOW_PROBE = "import mlflow, mlflow.autogen, autogen_agentchat, autogen_ext.models.replay"

MIN_MLFLOW_RATIO = 5.0  # spanlog's target: at most 1/5 of what MLflow adds

# --- the snippet each tracer's subprocess runs: PRELUDE + the tracer's setup + WORKLOAD -----------------------

PRELUDE = r"""
import asyncio, gc, json, os, random, statistics, sys, time
from importlib.metadata import version

CFG = json.loads(sys.argv[1])

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import CreateResult, ModelFamily, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

MODEL_INFO = {"vision": False, "function_calling": True, "json_output": False, "family": ModelFamily.UNKNOWN,
              "structured_output": False}
TOOL_CALL = CreateResult(finish_reason="function_calls", usage=RequestUsage(prompt_tokens=60, completion_tokens=12),
                         content=[FunctionCall(id="call_1", name="add", arguments='{"a": 2, "b": 3}')], cached=False)


def reply(text):
    return CreateResult(finish_reason="stop", content=text, cached=False,
                        usage=RequestUsage(prompt_tokens=80, completion_tokens=20))


def add(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b


TASK = "What is 2 + 3? Use the add tool, then explain the result in one sentence."


class Single:
    # one AssistantAgent, one turn: model call (a tool call) and the tool's execution
    def __init__(self):
        self.client = ReplayChatCompletionClient([TOOL_CALL], model_info=MODEL_INFO)
        self.agent = AssistantAgent("calculator", model_client=self.client, tools=[add],
                                    system_message="You are a calculator.")

    async def run(self):
        return await self.agent.run(task=TASK)

    async def reset(self):
        await self.agent.on_reset(CancellationToken())
        self.client.reset()


class Team:
    # a two-agent round robin ending after two replies: two turns inside autogen-core's runtime
    def __init__(self):
        self.client = ReplayChatCompletionClient([reply("A first draft."), reply("A short review.")],
                                                 model_info=MODEL_INFO)
        self.team = RoundRobinGroupChat(
            [AssistantAgent("writer", model_client=self.client), AssistantAgent("critic", model_client=self.client)],
            termination_condition=MaxMessageTermination(3),
        )

    async def run(self):
        return await self.team.run(task="Write one line about the sea.")

    async def reset(self):
        await self.team.reset()
        self.client.reset()
"""

SPANLOG_SETUP = r"""
import spanlog

spanlog.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "spanlog.db"))


def enable():
    spanlog.autogen.autolog()


def disable():
    spanlog.autogen.autolog(disable=True)


def switch(on):
    # a settings change only (the patches stay): cheap enough to alternate run by run
    spanlog.autogen.autolog(log_traces=on)


def flush():
    spanlog.flush_trace_async_logging()


def check(expected_spans):
    trace = spanlog.get_last_active_trace()
    assert trace is not None and len(trace.data.spans) == expected_spans, trace


VERSIONS = {"spanlog": version("spanlog"), "autogen-agentchat": version("autogen-agentchat")}
"""

MLFLOW_SETUP = r"""
import mlflow

mlflow.set_tracking_uri("sqlite:///" + os.path.join(CFG["workdir"], "mlflow.db"))
mlflow.set_experiment("bench")


def enable():
    mlflow.autogen.autolog()


def disable():
    mlflow.autogen.autolog(disable=True)


switch = None  # turning MLflow's autolog on and off takes milliseconds: batches of runs instead


def flush():
    mlflow.flush_trace_async_logging()


def check(expected_spans):
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    # mlflow.autogen traces agents' run / on_messages and model clients' create: in a team, each model call
    # is a trace of its own
    assert trace is not None and any(s.span_type in ("LLM", "CHAT_MODEL") for s in trace.data.spans), trace


VERSIONS = {"mlflow": version("mlflow"), "autogen-agentchat": version("autogen-agentchat")}
"""

WORKLOAD = r"""
async def timed(workload):
    start = time.perf_counter()
    await workload.run()
    elapsed = time.perf_counter() - start
    await workload.reset()
    return elapsed


async def loop(workload, n):
    total = 0.0
    for _ in range(n):
        total += await timed(workload)
    return total


async def by_runs(workload, reps):
    # one run per arm, three arms per repetition in a random order: off, on, and off again (A/A noise)
    shuffle = random.Random(7).shuffle
    enable()
    arms = {"off": [], "on": [], "off2": []}
    order = list(arms)
    for rep in range(reps):
        shuffle(order)
        for arm in order:
            switch(arm == "on")
            arms[arm].append(await timed(workload))
        if rep % 50 == 49:
            flush()  # keep the export queue short; the exporter thread's share falls on every arm alike
    flush()
    disable()
    return arms, 1


async def by_batches(workload, reps):
    # batches of runs (for a tracer that is slow to switch), alternating off / on
    n = 1
    while await loop(workload, n) < CFG["batch_s"] and n < 10**4:
        n *= 2
    arms = {"off": [], "on": [], "off2": []}
    for rep in range(reps):
        for arm in (("off", "on") if rep % 2 == 0 else ("on", "off")):
            if arm == "on":
                enable()
                flush()
                arms[arm].append(await loop(workload, n) / n)
                flush()
                disable()
            else:
                arms[arm].append(await loop(workload, n) / n)
    return arms, n


async def measure(workload, reps, expected_spans, turns):
    disable()
    await loop(workload, 30)  # warm-up: imports, pydantic validators, the runtime's first start
    enable()
    await loop(workload, 5)
    check(expected_spans)
    flush()
    disable()
    gc.collect()
    gc.freeze()  # module-level objects are not what is measured: keep full collections over them out
    arms, n = await (by_runs if switch is not None else by_batches)(workload, reps)
    off, on, off2 = arms["off"], arms["on"], arms["off2"]
    result = {
        "plain_us": statistics.median(off) * 1e6 / turns,
        "added_us": statistics.median(b - a for a, b in zip(off, on)) * 1e6 / turns,
        "runs": n,
        "reps": len(on),
    }
    if off2:
        result["noise_us"] = statistics.median(b - a for a, b in zip(off, off2)) * 1e6 / turns
    return result


async def main():
    return {
        "a": await measure(Single(), CFG["reps_a"], 4, 1),
        "b": await measure(Team(), CFG["reps_b"], 5, 2),
        "versions": VERSIONS,
    }


print("BENCH_RESULT " + json.dumps(asyncio.run(main())), flush=True)
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
    """bench/.venvs/mlflow-autogen: MLflow 3.x with the workspace's autogen versions (the same framework)."""
    agentchat, ext = version("autogen-agentchat"), version("autogen-ext")
    requirements = ["mlflow>=3,<4", f"autogen-agentchat=={agentchat}", f"autogen-ext=={ext}"]
    probe = (
        f"{MLFLOW_PROBE}; import sys; from importlib.metadata import version; "
        f"sys.exit(version('autogen-agentchat') != {agentchat!r} or version('autogen-ext') != {ext!r})"
    )
    return str(ensure_venv(MLFLOW_VENV, requirements, probe))


def spanlog_env() -> dict[str, str]:
    """This environment, with every spanlog plugin but the AutoGen integration skipped (a plugin installed in
    the workspace, such as a span processor, would add its own cost to every span)."""
    from importlib.metadata import entry_points

    others = sorted({ep.name for ep in entry_points(group="spanlog")} - {"autogen"})
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
    header = ["workload", "no tracing (µs/turn)", "spanlog adds (µs/turn)", "A/A noise (µs/turn)"]
    if have_mlflow:
        header += ["MLflow adds (µs/turn)", "MLflow/spanlog"]
    header.append("target")
    workloads = [
        ("A. `AssistantAgent.run`: one turn, a model call and a tool", "a"),
        ("B. `RoundRobinGroupChat.run`: two turns, per turn", "b"),
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
            cells += [num(m_added), times(vs)]
            target = verdict(f"≤ 1/{MIN_MLFLOW_RATIO:.0f} of MLflow's", vs, lambda v: v >= MIN_MLFLOW_RATIO)
        else:
            target = f"≤ 1/{MIN_MLFLOW_RATIO:.0f} of MLflow's (not measured)"
        cells.append(target)
        rows.append(cells)
    rule = ["---", *["---:"] * (len(header) - 2), "---"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    notes = [
        "Time added per agent turn on the caller's thread, with autogen-ext's `ReplayChatCompletionClient` "
        "answering canned results (no network); each run is a trace of its own, and agents and client are "
        "reset between runs outside the timing. spanlog: medians over "
        f"{settings['reps_a']:,} (A) / {settings['reps_b']:,} (B) repetitions of three single runs in random "
        "order: autolog off, on, and off again (`spanlog.autogen.autolog(log_traces=...)` switches between "
        'runs). "adds" is the median of on minus off, "A/A noise" the median of off-again minus off; the '
        "export queue is flushed every 50 repetitions, outside the timing."
    ]
    if have_mlflow:
        m = [get("mlflow", key, "plain_us") for key in ("a", "b")]
        batches = [
            "n/a" if v is None else f"{v:.0f}" for v in (get("mlflow", key, "runs") for key in ("a", "b"))
        ]
        notes.append(
            f"MLflow (`mlflow.autogen.autolog()`), whose autolog takes milliseconds to switch: medians over "
            f"{settings['mlflow_reps']} repetitions of a batch with autolog off and one with it on, "
            f"{batches[0]} (A) / {batches[1]} (B) runs per batch, its async trace queue flushed outside the "
            f"timing; untraced turns in its virtualenv: A {num(m[0])} µs, B {num(m[1])} µs. Sqlite tracking "
            "store in a temp dir, telemetry off."
        )
    notes.append(
        "spanlog: default settings (store exporter into SQLite in a temp dir); other installed spanlog plugins "
        "skipped (`SPANLOG_DISABLE_PLUGINS`). Objects created before the measurement are frozen "
        "(`gc.freeze()`) in both processes."
    )
    return (
        "\n".join([*lines, "", " ".join(notes), "", machine_line(o.data for o in outcomes.values())]) + "\n"
    )


def write_doc(table: str) -> None:
    """Put the table between the bench_autogen markers of docs/performance.md."""
    text = DOC.read_text(encoding="utf-8")
    replaced = replace_marked(text, START, END, table)
    if replaced is None:
        replaced = text.rstrip("\n") + f"\n\n## AutoGen autolog\n\n{START}\n{table}{END}\n"
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
        "reps_a": 100 if args.quick else 800,  # spanlog: one run per arm
        "reps_b": 60 if args.quick else 400,
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of runs per arm
        "batch_s": 0.02 if args.quick else 0.1,
    }
    tracers = [Tracer("spanlog", sys.executable, SPANLOG_SETUP, spanlog_env())]
    if not args.no_mlflow:
        env = clean_env()
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark
        tracers.append(Tracer("mlflow", mlflow_python(), MLFLOW_SETUP, env))

    outcomes: dict[str, Outcome] = {}
    for tracer in tracers:
        print(f"bench: {tracer.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_autogen_") as tmp:
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
