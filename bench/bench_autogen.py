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

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _autolog as autolog
from _report import count, num

NAME = "bench_autogen"  # its doc markers: <!-- bench_autogen:start --> ... <!-- bench_autogen:end -->
MLFLOW_VENV = "mlflow-autogen"
MLFLOW_PROBE = "import mlflow, mlflow.autogen, autogen_agentchat, autogen_ext.models.replay"

MIN_MLFLOW_RATIO = 5.0  # spanlog's target: at most 1/5 of what MLflow adds

# --- each tracer's subprocess runs _autolog.HEAD + PRELUDE + its setup + WORKLOAD -------------------------------
# (a harness of its own, not _autolog.HARNESS: the runs are awaited, agents and client are reset between runs
# outside the timing, and a team's time is divided by its turns)

PRELUDE = r"""
import asyncio

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

# the rest of spanlog's setup, after _autolog.spanlog_setup("autogen") (store, enable, disable, flush)
SPANLOG_SETUP = r"""
def switch(on):
    # a settings change only (the patches stay): cheap enough to alternate run by run
    spanlog.autogen.autolog(log_traces=on)


def check(expected_spans):
    trace = spanlog.get_last_active_trace()
    assert trace is not None and len(trace.data.spans) == expected_spans, trace


VERSIONS = {"spanlog": version("spanlog"), "autogen-agentchat": version("autogen-agentchat")}
"""

# the rest of MLflow's, after _autolog.mlflow_setup("autogen") (store, enable, disable, switch = None, flush)
MLFLOW_SETUP = r"""
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


def mlflow_python() -> str:
    """bench/.venvs/mlflow-autogen: MLflow 3.x with the workspace's autogen versions (the same framework)."""
    return autolog.peer_python(
        MLFLOW_VENV, autolog.MLFLOW_REQUIREMENTS, MLFLOW_PROBE, ["autogen-agentchat", "autogen-ext"]
    )


def render(outcomes: dict[str, autolog.Outcome], settings: dict[str, object]) -> str:
    """The markdown table, the notes and the machine line."""
    have_mlflow = "mlflow" in outcomes
    columns = [*autolog.header(outcomes, "turn"), "target"]
    workloads = [
        ("A. `AssistantAgent.run`: one turn, a model call and a tool", "a"),
        ("B. `RoundRobinGroupChat.run`: two turns, per turn", "b"),
    ]
    rows = []
    for title, key in workloads:
        if have_mlflow:
            target = autolog.ratio_target(autolog.mlflow_ratio(outcomes, key), MIN_MLFLOW_RATIO)
        else:
            target = f"≤ 1/{MIN_MLFLOW_RATIO:.0f} of MLflow's (not measured)"
        rows.append([title, *autolog.cells(outcomes, key), target])
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
        m = [autolog.value(outcomes, "mlflow", key, "plain_us") for key in ("a", "b")]
        batches = [count(autolog.value(outcomes, "mlflow", key, "runs")) for key in ("a", "b")]
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
    return autolog.compose(autolog.markdown_table(columns, rows), notes, outcomes)


def main(argv: list[str] | None = None) -> int:
    args = autolog.autolog_arguments(__doc__, argv)
    started = time.perf_counter()
    settings: dict[str, object] = {
        "reps_a": 100 if args.quick else 800,  # spanlog: one run per arm
        "reps_b": 60 if args.quick else 400,
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of runs per arm
        "batch_s": 0.02 if args.quick else 0.1,
    }
    tracers = [autolog.spanlog_tracer("autogen", SPANLOG_SETUP)]
    if not args.no_mlflow:
        tracers.append(autolog.mlflow_tracer(mlflow_python(), "autogen", MLFLOW_SETUP))
    outcomes = autolog.run_all(tracers, PRELUDE, WORKLOAD, settings, NAME, harness="")
    return autolog.finish(render(outcomes, settings), outcomes, args.write, NAME, "AutoGen autolog", started)


if __name__ == "__main__":
    sys.exit(main())
