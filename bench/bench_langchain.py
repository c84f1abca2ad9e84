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

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _autolog as autolog
from _report import count, num

NAME = "bench_langchain"  # its doc markers: <!-- bench_langchain:start --> ... <!-- bench_langchain:end -->
MLFLOW_PROBE = "import mlflow, mlflow.langchain, langchain_core"

MIN_MLFLOW_RATIO = 5.0  # spanlog's target: at most 1/5 of what MLflow adds

# --- each tracer's subprocess runs _autolog.HEAD + PRELUDE + its setup + _autolog.HARNESS + WORKLOAD ------------

PRELUDE = r"""
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

# the rest of spanlog's setup, after _autolog.spanlog_setup("langchain") (store, enable, disable, flush)
SPANLOG_SETUP = r"""
def switch(on):
    # a settings change only (the hook and patches stay): cheap enough to alternate call by call
    spanlog.langchain.autolog(log_traces=on)


def check():
    trace = spanlog.get_last_active_trace()
    assert trace is not None and [s.span_type for s in trace.data.spans] == [
        "CHAIN", "CHAIN", "CHAT_MODEL", "PARSER"
    ], trace


VERSIONS = {"spanlog": version("spanlog"), "langchain-core": version("langchain-core")}
"""

# the rest of MLflow's, after _autolog.mlflow_setup("langchain") (store, enable, disable, switch = None, flush)
MLFLOW_SETUP = r"""
def check():
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None and len(trace.data.spans) == 4, trace


VERSIONS = {"mlflow": version("mlflow"), "langchain-core": version("langchain-core")}
"""

WORKLOAD = r"""
report({"a": measure(call, CFG["reps_a"]), "versions": VERSIONS})
"""


def mlflow_python() -> str:
    """bench/.venvs/mlflow-langchain: MLflow 3 with the workspace's langchain-core version (the same library
    on both sides)."""
    return autolog.peer_python(
        "mlflow-langchain", autolog.MLFLOW_REQUIREMENTS, MLFLOW_PROBE, ["langchain-core"]
    )


def render(outcomes: dict[str, autolog.Outcome], settings: dict[str, object]) -> str:
    """The markdown table, the notes and the machine line."""
    have_mlflow = "mlflow" in outcomes
    columns = autolog.header(outcomes, "call")
    row = ["`chain.invoke`: `ChatPromptTemplate \\| FakeListChatModel \\| StrOutputParser` (4 spans)"]
    row += autolog.cells(outcomes, "a")
    if have_mlflow:
        columns.append("target")
        row.append(autolog.ratio_target(autolog.mlflow_ratio(outcomes, "a"), MIN_MLFLOW_RATIO))
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
        batch, plain = (autolog.value(outcomes, "mlflow", "a", key) for key in ("calls", "plain_us"))
        notes.append(
            f"MLflow, whose autolog takes milliseconds to switch: medians over {settings['mlflow_reps']} "
            "repetitions of a batch with `mlflow.langchain.autolog()` off and one with it on, "
            f"{count(batch)} calls per batch, its async trace queue flushed "
            f"outside the timing; untraced calls in its virtualenv: {num(plain)} µs. "
            "Sqlite tracking store in a temp dir, one experiment, telemetry off."
        )
    notes.append(autolog.SPANLOG_NOTE)
    return autolog.compose(autolog.markdown_table(columns, [row]), notes, outcomes)


def main(argv: list[str] | None = None) -> int:
    args = autolog.autolog_arguments(__doc__, argv)
    started = time.perf_counter()
    settings: dict[str, object] = {
        "reps_a": 150 if args.quick else 1500,  # spanlog: one call per arm
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of calls per arm
        "batch_s": 0.01 if args.quick else 0.05,
    }
    tracers = [autolog.spanlog_tracer("langchain", SPANLOG_SETUP)]
    if not args.no_mlflow:
        tracers.append(autolog.mlflow_tracer(mlflow_python(), "langchain", MLFLOW_SETUP))
    outcomes = autolog.run_all(tracers, PRELUDE, WORKLOAD, settings, NAME)
    return autolog.finish(
        render(outcomes, settings), outcomes, args.write, NAME, "LangChain autolog", started
    )


if __name__ == "__main__":
    sys.exit(main())
