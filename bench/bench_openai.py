"""What OpenAI autolog adds to a ``chat.completions.create`` call: spanlog, MLflow and other peers, in one run.

Why: ``spanlog.openai.autolog()`` promises to trace every call at no noticeable cost. This script times the
same call through the real OpenAI SDK against an in-process fake transport (an ``httpx``/``httpx2``
``MockTransport`` returning a canned completion), so that no network is timed and the SDK's own work is the
same with and without tracing:

    A  ``client.chat.completions.create(...)``, non-streamed, in µs per call;
    B  the same call with ``stream=True`` (20 content chunks, a finish chunk and a usage chunk), consumed.

Next to it, the other peers with their defaults, each in a fresh process measured the same way as spanlog:
OpenInference's and OpenLLMetry's OpenAI instrumentors, Langfuse's ``langfuse.openai``, and the floor of any
tracer built on OpenTelemetry, a bare SDK span around the call.

For each, "adds" is the time added on the caller's thread, and "CPU added incl. export" the CPU time of the
whole process per call, the tracer's background export included (batches of calls, each then flushed).

Each tracer runs in its own fresh subprocess. spanlog (this interpreter, default store exporter): single
calls with autolog off, on, and off again, in random order, switched with ``autolog(log_traces=...)``, so
that neighbouring calls share the machine's state; "adds" is the median of on minus off, and off-again
minus off shows the noise (A/A). MLflow 3.x (bench/.venvs/mlflow, shared with bench_core, built on first use
with the workspace's openai version; sqlite tracking store): switching its autolog takes
milliseconds, so batches of calls alternate instead. Other installed spanlog plugins are skipped.

    python dev.py run python bench/bench_openai.py            # full run (~18 min), prints the table
    python dev.py run python bench/bench_openai.py --write    # ... and writes it into docs/performance.md
    python dev.py run python bench/bench_openai.py --quick    # smoke test: few, short repetitions
    python dev.py run python bench/bench_openai.py --no-mlflow    # spanlog alone
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _autolog as autolog
from _report import count, num, ratio, times, verdict

NAME = "bench_openai"  # its doc markers: <!-- bench_openai:start --> ... <!-- bench_openai:end -->
MLFLOW_PROBE = "import mlflow, mlflow.config; mlflow.config.enable_async_logging"

MAX_ADDED_US = 50.0  # spanlog's target: at most this much added per call
SPANLOG_RUNS = 5  # spanlog's figures: medians over this many fresh processes (a full run)
MIN_MLFLOW_RATIO = 10.0  # ... and at most 1/10 of what MLflow adds

# --- each tracer's subprocess runs _autolog.HEAD + PRELUDE + its setup + _autolog.HARNESS + WORKLOAD ------------

PRELUDE = r"""
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

# the rest of spanlog's setup, after _autolog.spanlog_setup("openai") (store, enable, disable, flush)
SPANLOG_SETUP = r"""
def switch(on):
    # a settings change only (the patches stay): cheap enough to alternate call by call
    spanlog.openai.autolog(log_traces=on)


def inside(fn):
    # fn called inside a traced function of the user's: a span of their own around it, in every arm
    def traced():
        with spanlog.start_span("agent"):
            fn()

    return traced


def check():
    trace = spanlog.get_last_active_trace()
    names = [span.name for span in trace.data.spans] if trace is not None else None
    assert names in (["chat.completions.create"], ["agent", "chat.completions.create"]), names
    if len(names) == 2:
        agent, call = trace.data.spans
        assert call.parent_id == agent.span_id, (call.parent_id, agent.span_id)
    assert trace.info.token_usage == {"input_tokens": 41, "output_tokens": 39, "total_tokens": 80}


VERSIONS = {"spanlog": version("spanlog"), "openai": version("openai")}
"""

# the rest of MLflow's, after _autolog.mlflow_setup("openai") (store, enable, disable, switch = None, flush)
MLFLOW_SETUP = r"""
def check():
    flush()
    trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
    assert trace is not None and trace.data.spans[0].span_type == "CHAT_MODEL", trace


VERSIONS = {"mlflow": version("mlflow"), "openai": version("openai")}
"""

# the floor of an OpenTelemetry-based tracer, in the workspace interpreter (spanlog is built on the SDK): a span
# around the call, made current while the SDK runs and ended when the response, or the stream, is done;
# nothing recorded. A stream is handed on through a generator that ends the span with it.
OTEL_FLOOR_SETUP = (
    autolog.OTEL_EXPORT
    + r"""
from opentelemetry import trace as otel_trace
from openai.resources.chat.completions import Completions

provider = exporting_provider()
tracer = provider.get_tracer("bench")
_plain = Completions.create


def _ending(stream, span):
    try:
        yield from stream
    finally:
        span.end()


def _traced(self, *args, **kwargs):
    span = tracer.start_span("chat.completions.create")
    try:
        with otel_trace.use_span(span):
            result = _plain(self, *args, **kwargs)
    except BaseException:
        span.end()
        raise
    if kwargs.get("stream"):
        return _ending(result, span)
    span.end()
    return result


SWITCH_INSTALLS = True


def switch(on):
    Completions.create = _traced if on else _plain


def enable():
    switch(True)


def disable():
    switch(False)


def flush():
    provider.force_flush()


VERSIONS = {"opentelemetry-sdk": version("opentelemetry-sdk"), "openai": version("openai")}
"""
)

# Langfuse's OpenAI integration patches the SDK when ``langfuse.openai`` is imported (the method, and the
# iteration of every Stream), with no switch of its own: ``switch`` puts the SDK's attributes or Langfuse's in
# place. Its client gets the JSON-lines exporter in place of the OTLP one (no Langfuse server here).
LANGFUSE_SETUP = (
    autolog.OTEL_EXPORT
    + r"""
from openai.resources.chat.completions import Completions

_SWAPPED = [(Completions, "create"), (openai.Stream, "__iter__")]
_plain = [vars(owner)[name] for owner, name in _SWAPPED]
import langfuse.openai  # noqa: E402  patches the SDK
from langfuse import Langfuse  # noqa: E402

_traced = [vars(owner)[name] for owner, name in _SWAPPED]
assert _traced != _plain, "langfuse.openai patched nothing"
langfuse_client = Langfuse(
    public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url="http://127.0.0.1:9", span_exporter=EXPORTER
)
SWITCH_INSTALLS = True


def switch(on):
    for (owner, name), plain, traced in zip(_SWAPPED, _plain, _traced):
        setattr(owner, name, traced if on else plain)


def enable():
    switch(True)


def disable():
    switch(False)


def flush():
    langfuse_client.flush()


VERSIONS = {"langfuse": version("langfuse"), "openai": version("openai")}
"""
)


@dataclass(frozen=True)
class Peer:
    """One of the other tracers of the second table."""

    label: str
    title: str
    venv: str | None  # its virtualenv under bench/.venvs, or None for the workspace's interpreter
    requirements: list[str]
    probe: str  # what must import in the virtualenv
    setup: str


PEERS = [
    Peer("otel", "OpenTelemetry span only (floor)", None, [], "", OTEL_FLOOR_SETUP),
    Peer(
        "openinference",
        "OpenInference",
        "openinference",
        ["openinference-instrumentation-openai", "opentelemetry-sdk"],
        "import openinference.instrumentation.openai, opentelemetry.sdk",
        autolog.otel_instrumentor_setup(
            "openinference.instrumentation.openai",
            "OpenAIInstrumentor",
            "openinference-instrumentation-openai",
        ),
    ),
    Peer(
        "openllmetry",
        "OpenLLMetry",
        "openllmetry",
        ["opentelemetry-instrumentation-openai", "opentelemetry-sdk"],
        "import opentelemetry.instrumentation.openai, opentelemetry.sdk",
        autolog.otel_instrumentor_setup(
            "opentelemetry.instrumentation.openai",
            "OpenAIInstrumentor",
            "opentelemetry-instrumentation-openai",
        ),
    ),
    Peer("langfuse", "Langfuse", "langfuse", ["langfuse"], "import langfuse.openai", LANGFUSE_SETUP),
]

WORKLOAD = r"""
report({"a": measure(call, CFG["reps_a"]), "b": measure(call_stream, CFG["reps_b"]), "versions": VERSIONS})
"""

# spanlog also measures the same calls inside a traced function of the user's ("a_in", "b_in"): the case of
# an agent, where the call is a child span and its trace ends and is exported with the user's function
SPANLOG_WORKLOAD = r"""
report({
    "a": measure(call, CFG["reps_a"]),
    "b": measure(call_stream, CFG["reps_b"]),
    "a_in": measure(inside(call), CFG["reps_a"]),
    "b_in": measure(inside(call_stream), CFG["reps_b"]),
    "versions": VERSIONS,
})
"""


def mlflow_python() -> str:
    """bench/.venvs/mlflow (bench_core's) with the workspace's openai version (the same SDK on both sides)."""
    return autolog.peer_python("mlflow", autolog.MLFLOW_REQUIREMENTS, MLFLOW_PROBE, ["openai"])


def peer_tracer(peer: Peer) -> autolog.Tracer:
    """A peer's column: its virtualenv (built on first use, with the workspace's openai version), or the
    workspace's interpreter when it needs nothing spanlog does not already have."""
    python = sys.executable
    if peer.venv is not None:
        python = autolog.peer_python(peer.venv, peer.requirements, peer.probe, ["openai"])
    return autolog.Tracer(peer.label, python, peer.setup, autolog.clean_env())


def peers_table(outcomes: dict[str, autolog.Outcome]) -> list[str]:
    """Every tracer's added time side by side, as a multiple of spanlog's, with its CPU incl. export."""
    titles = {"spanlog": "spanlog (median of the processes)", "mlflow": "MLflow"}
    titles.update({peer.label: peer.title for peer in PEERS})
    columns = ["tracer", "A adds (µs/call)", "B adds (µs/call)", "A: x spanlog", "B: x spanlog"]
    columns.append("CPU added incl. export, A / B (µs/call)")
    rows = []
    for label, title in titles.items():
        if label not in outcomes:
            continue
        added = [autolog.value(outcomes, label, key, "added_us") for key in ("a", "b")]
        vs = [
            times(ratio(value, autolog.value(outcomes, "spanlog", key, "added_us")))
            for value, key in zip(added, ("a", "b"), strict=True)
        ]
        cpu = " / ".join(num(autolog.value(outcomes, label, key, "cpu_added_us")) for key in ("a", "b"))
        rows.append([title, num(added[0]), num(added[1]), *vs, cpu])
    return autolog.markdown_table(columns, rows)


def workload_titles(chunks: object) -> dict[str, str]:
    """The titles of workloads A and B in the tables."""
    return {
        "a": "A. `chat.completions.create`, non-streamed",
        "b": f"B. `chat.completions.create(stream=True)`, {chunks} content chunks, read to the end",
    }


def added_target(added: float | None) -> str:
    """The verdict on spanlog's target of adding at most ``MAX_ADDED_US`` per call."""
    return verdict(f"spanlog adds ≤ {MAX_ADDED_US:.0f} µs", added, lambda v: v <= MAX_ADDED_US)


def inside_table(outcomes: dict[str, autolog.Outcome], chunks: object) -> list[str]:
    """spanlog's rows for the calls made inside a traced function (``a_in``, ``b_in``), when measured."""
    columns = ["workload", "no tracing (µs/call)", "spanlog adds (µs/call)", "A/A noise (µs/call)"]
    columns += ["CPU added incl. export (µs/call)", "target"]
    rows = []
    for key, title in workload_titles(chunks).items():
        measured = key + "_in"
        added = autolog.value(outcomes, "spanlog", measured, "added_us")
        if added is None:
            return []
        plain, noise, cpu = (
            num(autolog.value(outcomes, "spanlog", measured, field))
            for field in ("plain_us", "noise_us", "cpu_added_us")
        )
        rows.append(
            [f"{title}, inside a traced function", plain, num(added), noise, cpu, added_target(added)]
        )
    return autolog.markdown_table(columns, rows)


INSIDE_NOTE = (
    "Inside a traced function: the same calls made inside a span of the user's (`spanlog.start_span`) in "
    'every arm, so that "no tracing" includes that span and "adds" is what autolog adds to a call that is a '
    "child span, as in an agent; measured in the same processes as A and B, after them."
)


PEERS_NOTE = (
    "OpenInference, OpenLLMetry, Langfuse and the OpenTelemetry floor, each in a fresh process with its "
    "defaults, are measured as spanlog is (single calls in random order, off, on, off again; one process "
    "each): the OpenTelemetry floor is a span around the call, "
    "made current while the SDK runs and ended with the response or the stream (handed on through a "
    "generator), nothing recorded, in the workspace's interpreter; OpenInference and OpenLLMetry are "
    "switched off between calls by OpenTelemetry's suppress-instrumentation context key, which their "
    "wrappers check on every call; Langfuse, which patches the SDK on import, by putting the SDK's own "
    "attributes back. The three OpenTelemetry-based ones export with a `BatchSpanProcessor` to an exporter "
    "writing each span as a line of JSON in a temp dir (Langfuse's client is given it in place of its OTLP "
    "exporter)."
)


def render(outcomes: dict[str, autolog.Outcome], settings: dict[str, object]) -> str:
    """The markdown table, the notes and the machine line."""
    have_mlflow = "mlflow" in outcomes
    columns = autolog.header(outcomes, "call")
    columns.append("CPU added incl. export: spanlog" + (" / MLflow" if have_mlflow else "") + " (µs/call)")
    columns.append("target")
    rows = []
    for key, title in workload_titles(settings["chunks"]).items():
        added = autolog.value(outcomes, "spanlog", key, "added_us")
        target = added_target(added)
        cpu = [num(autolog.value(outcomes, "spanlog", key, "cpu_added_us"))]
        if have_mlflow:
            target += "; " + autolog.ratio_target(autolog.mlflow_ratio(outcomes, key), MIN_MLFLOW_RATIO)
            cpu.append(num(autolog.value(outcomes, "mlflow", key, "cpu_added_us")))
        rows.append([title, *autolog.cells(outcomes, key), " / ".join(cpu), target])
    notes = [
        "Time added on the caller's thread per call, with the SDK sending through an in-process "
        "`MockTransport` that returns a canned completion (no network timed); each call is a trace of its own. "
        f"spanlog: in each of {settings['spanlog_runs']} fresh processes, medians over "
        f"{settings['reps_a']:,} (A) / {settings['reps_b']:,} (B) repetitions of three single calls in "
        "random order: autolog off, on, and off again (`spanlog.openai.autolog(log_traces=...)` switches "
        'between calls, so neighbouring calls share the machine\'s state). "adds" is the median of on minus '
        'off, "A/A noise" the median of off-again minus off. spanlog\'s exporter thread writes the traces to '
        "the store while the calls go on: what that takes from the caller (its share of the GIL) falls on all "
        'three arms alike, so "adds" is the work done on the caller\'s thread (the queue is flushed every 50 '
        "repetitions, outside the timing); the table shows the median over the processes. "
        + autolog.runs_note(outcomes, "spanlog", {"a": "A", "b": "B", "a_in": "A inside", "b_in": "B inside"})
    ]
    if have_mlflow:
        m = [autolog.value(outcomes, "mlflow", key, "plain_us") for key in ("a", "b")]
        batches = [count(autolog.value(outcomes, "mlflow", key, "calls")) for key in ("a", "b")]
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
    notes.append(autolog.SPANLOG_NOTE)
    lines = autolog.markdown_table(columns, rows)
    inside = inside_table(outcomes, settings["chunks"])
    if inside:
        lines += ["", "The same calls inside a traced function of the user's (spanlog):", "", *inside]
        notes.append(INSIDE_NOTE)
    if any(peer.label in outcomes for peer in PEERS):
        lines += ["", "All the tracers in the same run:", "", *peers_table(outcomes)]
        notes.append(PEERS_NOTE)
    return autolog.compose(lines, notes, outcomes)


def main(argv: list[str] | None = None) -> int:
    args = autolog.autolog_arguments(__doc__, argv)
    started = time.perf_counter()
    settings: dict[str, object] = {
        "reps_a": 150 if args.quick else 1500,  # spanlog: one call per arm
        "reps_b": 60 if args.quick else 1500,
        "mlflow_reps": 3 if args.quick else 11,  # MLflow: batches of calls per arm
        "batch_s": 0.01 if args.quick else 0.05,
        "chunks": 20,
        "cpu_calls": 10 if args.quick else 50,  # CPU incl. export: calls per batch ...
        "cpu_reps": 3 if args.quick else 15,  # ... and batches per arm
    }
    spanlog_runs = 2 if args.quick else SPANLOG_RUNS
    settings["spanlog_runs"] = spanlog_runs
    outcomes = {
        "spanlog": autolog.run_repeated(
            autolog.spanlog_tracer("openai", SPANLOG_SETUP),
            spanlog_runs,
            PRELUDE,
            SPANLOG_WORKLOAD,
            settings,
            NAME,
        )
    }
    if not args.no_mlflow:
        tracers = [autolog.mlflow_tracer(mlflow_python(), "openai", MLFLOW_SETUP)]
        tracers += [peer_tracer(peer) for peer in PEERS]
        outcomes.update(autolog.run_all(tracers, PRELUDE, WORKLOAD, settings, NAME))
    return autolog.finish(render(outcomes, settings), outcomes, args.write, NAME, "OpenAI autolog", started)


if __name__ == "__main__":
    sys.exit(main())
