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

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _autolog as autolog
from _report import count, num

NAME = "bench_llama_index"  # its doc markers: <!-- bench_llama_index:start --> ... <!-- bench_llama_index:end -->
MLFLOW_PROBE = "import mlflow, mlflow.llama_index, llama_index.core"

MIN_MLFLOW_RATIO = 5.0  # spanlog's target: at most 1/5 of what MLflow adds

# --- each tracer's subprocess runs _autolog.HEAD + PRELUDE + its setup + _autolog.HARNESS + WORKLOAD ------------

PRELUDE = r"""
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

# the rest of spanlog's setup, after _autolog.spanlog_setup("llama_index") (store, enable, disable, flush)
SPANLOG_SETUP = r"""
SWITCH_INSTALLS = True  # so no enable() before single queries: the first switch() adds the handlers


def switch(on):
    # outside the timing: adds or removes spanlog's handlers, so "off" is LlamaIndex with no spanlog at all
    if on:
        enable()
    else:
        disable()


def check():
    trace = spanlog.get_last_active_trace()
    assert trace is not None and trace.data.spans[0].name.startswith("RetrieverQueryEngine.query"), trace
    assert len(trace.data.spans) >= 10, [s.name for s in trace.data.spans]


VERSIONS = {"spanlog": version("spanlog"), "llama-index-core": version("llama-index-core")}
"""

# the rest of MLflow's, after _autolog.mlflow_setup("llama_index") (store, enable, disable, switch = None, flush)
MLFLOW_SETUP = r"""
def check():
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None and len(trace.data.spans) >= 5, trace


VERSIONS = {"mlflow": version("mlflow"), "llama-index-core": version("llama-index-core")}
"""

WORKLOAD = r"""
report({"a": measure(call, CFG["reps_a"]), "b": measure(call_stream, CFG["reps_b"]), "versions": VERSIONS})
"""


def mlflow_python() -> str:
    """bench/.venvs/mlflow-llama-index: MLflow with the workspace's llama-index-core version."""
    return autolog.peer_python(
        "mlflow-llama-index", autolog.MLFLOW_REQUIREMENTS, MLFLOW_PROBE, ["llama-index-core"]
    )


def render(outcomes: dict[str, autolog.Outcome], settings: dict[str, object]) -> str:
    """The markdown table, the notes and the machine line."""
    have_mlflow = "mlflow" in outcomes
    columns = autolog.header(outcomes, "query")
    if have_mlflow:
        columns.append("target")
    workloads = [
        ("A. `query_engine.query(...)`, mock LLM and embedding", "a"),
        ("B. the same query streamed, read to the end", "b"),
    ]
    rows = []
    for title, key in workloads:
        row = [title, *autolog.cells(outcomes, key)]
        if have_mlflow:
            row.append(autolog.ratio_target(autolog.mlflow_ratio(outcomes, key), MIN_MLFLOW_RATIO))
        rows.append(row)
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
        m = [autolog.value(outcomes, "mlflow", key, "plain_us") for key in ("a", "b")]
        batches = [count(autolog.value(outcomes, "mlflow", key, "calls")) for key in ("a", "b")]
        notes.append(
            f"MLflow, whose autolog takes milliseconds to switch: medians over {settings['mlflow_reps']} "
            "repetitions of a batch with autolog off and one with it on "
            f"(`mlflow.llama_index.autolog(disable=...)`), {batches[0]} (A) / {batches[1]} (B) queries per "
            f"batch, its async trace queue flushed outside the timing; untraced queries in its virtualenv: "
            f"A {num(m[0])} µs, B {num(m[1])} µs. Sqlite tracking store in a temp dir, one experiment, "
            "telemetry off."
        )
    notes.append(autolog.SPANLOG_NOTE)
    return autolog.compose(autolog.markdown_table(columns, rows), notes, outcomes)


def main(argv: list[str] | None = None) -> int:
    args = autolog.autolog_arguments(__doc__, argv)
    started = time.perf_counter()
    settings: dict[str, object] = {
        "reps_a": 100 if args.quick else 1000,  # spanlog: one query per arm
        "reps_b": 60 if args.quick else 600,
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of queries per arm
        "batch_s": 0.02 if args.quick else 0.2,
    }
    tracers = [autolog.spanlog_tracer("llama_index", SPANLOG_SETUP)]
    if not args.no_mlflow:
        tracers.append(autolog.mlflow_tracer(mlflow_python(), "llama_index", MLFLOW_SETUP))
    outcomes = autolog.run_all(tracers, PRELUDE, WORKLOAD, settings, NAME)
    return autolog.finish(
        render(outcomes, settings), outcomes, args.write, NAME, "LlamaIndex autolog", started
    )


if __name__ == "__main__":
    sys.exit(main())
