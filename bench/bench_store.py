"""spanlog's trace store next to MLflow's SQLite tracking store: persisted writes, search and get_trace.

Why: spanlog promises to keep traces in SQLite fast enough for production traffic and to find them again
quickly as they pile up. This script checks the promise in one run, on the same machine and the same data
shape for both tools:

    W  persisted write throughput: N traces of 5 spans (a root and 4 children, small inputs and outputs,
       an ``env`` tag, every 7th trace failing) through the fluent API, timed from the first span until
       ``flush_trace_async_logging()`` returns; spans/s of the traces that actually landed in the database;
    S  search latency: ``search_traces(filter_string="attributes.status = 'OK' AND tags.env = 'eK'",
       max_results=100, return_type="list")``, p50 and p95 over 50 queries (K cycles over the 10 values);
    G  get_trace latency: ``get_trace(request_id)`` of 200 random stored traces, p50 and p95;

S and G at 10k and 100k traces for both tools, and at 1M for spanlog alone. The read databases are seeded
with 200 traces written through each tool's fluent API, then grown by copying those rows in SQL with fresh
ids and later timestamps (writing 100k traces through MLflow would take hours).

Each tool runs in a fresh subprocess (a small Python snippet that prints JSON): spanlog with this interpreter,
MLflow 3.x with the interpreter of bench/.venvs/mlflow (built on first use). The markdown table goes to stdout
and, by default, into docs/performance.md between the bench_store markers.

    python dev.py run python bench/bench_store.py              # full run, writes docs/performance.md
    python dev.py run python bench/bench_store.py --quick      # smoke test, writes nothing
    python dev.py run python bench/bench_store.py --no-mlflow  # spanlog only, writes nothing
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (
    RESULT_PREFIX,
    bench_arguments,
    distinct_lines,
    machine_line,
    no_result,
    num,
    parse_result,
    ratio,
    replace_marked,
    times,
    verdict,
)
from _venvs import clean_env, ensure_venv

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench_store:start -->", "<!-- bench_store:end -->"
MLFLOW_REQUIREMENTS = ["mlflow>=3,<4"]
MLFLOW_PROBE = "import mlflow, mlflow.config; mlflow.config.enable_async_logging"
FILTER = "attributes.status = 'OK' AND tags.env = '{}'"

# Targets shown in the table (spanlog's store promise).
MIN_SPANS_PER_S = 10_000.0  # persisted to SQLite
MIN_WRITE_RATIO = 50.0  # spanlog / MLflow spans/s
MAX_SEARCH_MS = 20.0  # search p50 at 100k traces
MAX_GET_MS = 5.0  # get_trace p50 at 100k traces
TARGET_SCALE = 100_000
SPANLOG_ONLY_SCALE = 1_000_000  # measured for spanlog alone
TIMEOUT_S = 3600  # per tool

# --- snippets run in the subprocesses: PRELUDE + a tool's setup + WORKLOAD + COPY + MEASURE ---------------

PRELUDE = """
import base64, contextlib, json, os, random, shutil, sqlite3, statistics, sys, time
from importlib.metadata import version
CFG = json.loads(sys.argv[1])
"""  # + RESULT_PREFIX and FILTER, added by run_tool

SPANLOG_SETUP = """
import spanlog


def open_store(path):
    spanlog.set_tracking_uri("sqlite:///" + path)
    return spanlog.set_experiment("bench").experiment_id


span = spanlog.start_span


def set_tags(tags):
    spanlog.update_current_trace(tags=tags)


def flush():
    spanlog.flush_trace_async_logging()


def search(experiment_id, filter_string, max_results):
    return spanlog.search_traces(
        experiment_ids=[experiment_id], filter_string=filter_string, max_results=max_results,
        return_type="list",
    )


def get(request_id):
    return spanlog.get_trace(request_id)


def summary(trace):
    return trace.info.status.value, trace.info.tags.get("env"), len(trace.data.spans)


def engine():
    return spanlog.config.get_store().engine


# Where traces live, for counting and for growing the read database by SQL copies.
LAYOUT = {
    "trace": ["traces", "request_id", "timestamp_ms"],
    "children": [["trace_tags", "request_id"], ["trace_metadata", "request_id"], ["spans", "request_id"]],
    "ns": {"spans": ["start_time_ns", "end_time_ns"]},
    "rewrite": {},
}
VERSIONS = {"spanlog": version("spanlog"), "SQLAlchemy": version("SQLAlchemy")}
"""

MLFLOW_SETUP = """
import mlflow


def open_store(path):
    flush()
    mlflow.set_tracking_uri("sqlite:///" + path)
    return mlflow.set_experiment("bench").experiment_id


span = mlflow.start_span


def set_tags(tags):
    mlflow.update_current_trace(tags=tags)


def flush():
    mlflow.flush_trace_async_logging()


def search(experiment_id, filter_string, max_results):
    return mlflow.search_traces(
        locations=[experiment_id], filter_string=filter_string, max_results=max_results, return_type="list"
    )


def get(request_id):
    return mlflow.get_trace(request_id)


def summary(trace):
    return trace.info.state.value, trace.info.tags.get("env"), len(trace.data.spans)


def engine():
    # Private API, only for showing the SQL a search runs: None if it moves.
    try:
        from mlflow.tracking._tracking_service.utils import _get_store

        return _get_store().engine
    except (ImportError, AttributeError):
        return None


# Spans live in the tracking store's `spans` table (mlflow.trace.spansLocation = TRACKING_STORE); each row's
# JSON `content` carries the request id and the base64 trace id, and a tag carries the artifact path.
LAYOUT = {
    "trace": ["trace_info", "request_id", "timestamp_ms"],
    "children": [
        ["trace_tags", "request_id"],
        ["trace_request_metadata", "request_id"],
        ["spans", "trace_id"],
    ],
    "ns": {"spans": ["start_time_unix_nano", "end_time_unix_nano"]},
    "rewrite": {"trace_tags": ["value"], "spans": ["content"]},
}
VERSIONS = {"mlflow": version("mlflow"), "SQLAlchemy": version("SQLAlchemy")}
"""

WORKLOAD = """
def one_trace(i):
    # A root and 4 children with small inputs and outputs; every 7th trace fails in its last child (ERROR).
    try:
        with span("root") as root:
            root.set_inputs({"question": f"question {i}", "user": f"u{i % 100}"})
            set_tags({"env": f"e{i % 10}"})
            for j in range(4):
                with span(f"step{j}") as child:
                    child.set_inputs({"i": i, "j": j})
                    if j == 3 and i % 7 == 6:
                        raise ValueError("step failed")
                    child.set_outputs({"value": f"v{i}-{j}"})
            root.set_outputs({"answer": f"answer {i}"})
    except ValueError:
        pass
"""

COPY = """
TABLE, ID, TS = LAYOUT["trace"]
SPANS_TABLE, SPANS_ID = LAYOUT["children"][-1]


@contextlib.contextmanager
def connect(db):
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    try:
        con.execute("PRAGMA cache_size=-2000000")
        con.execute("PRAGMA temp_store=MEMORY")
        yield con
    finally:
        con.close()


def b64(hex_id):
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def copy_statements(con):
    # INSERT ... SELECT per table: template rows with the new id, shifted times, rewritten id mentions.
    statements = []
    for table, id_col in [[TABLE, ID], *LAYOUT["children"]]:
        columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]  # no generated columns
        exprs = []
        for col in columns:
            if col == id_col:
                exprs.append("m.new_id")
            elif table == TABLE and col == TS:
                exprs.append(f't."{col}" + m.delta_ms')
            elif col in LAYOUT["ns"].get(table, ()):
                exprs.append(f't."{col}" + m.delta_ms * 1000000')
            elif col in LAYOUT["rewrite"].get(table, ()):
                exprs.append(f'replace(replace(t."{col}", m.old_id, m.new_id), m.old_b64, m.new_b64)')
            else:
                exprs.append(f't."{col}"')
        names = ", ".join(f'"{c}"' for c in columns)
        statements.append(
            f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} "
            f"FROM temp.idmap m CROSS JOIN {table} t WHERE t.{id_col} = m.old_id ORDER BY m.rowid"
        )
    return statements


def grow(db, experiment_id, templates, target, rng, bulk=False):
    # Add copies of the template traces (fresh ids, timestamps after every stored trace) up to `target`.
    # bulk=True: nobody else has the file open, so it may be written without a journal (then WAL again).
    start = time.perf_counter()
    with connect(db) as con:
        have, last_ts = con.execute(
            f"SELECT count(*), max({TS}) FROM {TABLE} WHERE experiment_id = ?", (int(experiment_id),)
        ).fetchone()
        if have >= target:
            return 0.0
        if bulk:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
        statements = copy_statements(con)
        con.execute("CREATE TEMP TABLE IF NOT EXISTS idmap (old_id, new_id, delta_ms, old_b64, new_b64)")
        old_b64 = {rid: b64(rid[3:]) for rid, _ in templates}
        while have < target:
            rows = []
            for k in range(min(CFG["copy_chunk"], target - have)):
                old_id, old_ts = templates[(have + k) % len(templates)]
                new_hex = f"{rng.getrandbits(128):032x}"
                last_ts += 1
                rows.append((old_id, "tr-" + new_hex, last_ts - old_ts, old_b64[old_id], b64(new_hex)))
            con.execute("BEGIN")
            con.execute("DELETE FROM temp.idmap")
            con.executemany("INSERT INTO temp.idmap VALUES (?, ?, ?, ?, ?)", rows)
            for statement in statements:
                con.execute(statement)
            con.execute("COMMIT")
            if not bulk:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            have += len(rows)
        if bulk:
            con.execute(f"PRAGMA journal_mode={mode}")
    return time.perf_counter() - start
"""

MEASURE = """
def complete_traces(db, experiment_id):
    # Traces whose 5 spans all landed (what was really persisted).
    with connect(db) as con:
        return con.execute(
            f"SELECT count(*) FROM {TABLE} t WHERE t.experiment_id = ? AND "
            f"(SELECT count(*) FROM {SPANS_TABLE} s WHERE s.{SPANS_ID} = t.{ID}) = 5",
            (int(experiment_id),),
        ).fetchone()[0]


def write_rep(db, experiment_id, n, offset):
    before = complete_traces(db, experiment_id)
    start = time.perf_counter()
    for i in range(offset, offset + n):
        one_trace(i)
    produced = time.perf_counter()
    flush()
    done = time.perf_counter()
    persisted = complete_traces(db, experiment_id) - before
    return {
        "traces": n,
        "persisted": persisted,
        "seconds": done - start,
        "caller_seconds": produced - start,
        "spans_per_s": persisted * 5 / (done - start),
    }


def write_phase(db):
    experiment_id = open_store(db)
    for i in range(5):  # warm-up: opens the store, first exports
        one_trace(10**6 + i)
    flush()
    reps = [write_rep(db, experiment_id, CFG["writes"], r * CFG["writes"]) for r in range(CFG["write_reps"])]
    best = sorted(reps, key=lambda r: r["spans_per_s"])[len(reps) // 2]  # the median repetition
    return {**best, "reps": reps}


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def capture(fn):
    # The SQL statements (with parameters) that fn() runs on the tool's engine.
    from sqlalchemy import event

    statements = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    eng = engine()
    if eng is None:
        fn()
        return statements
    event.listen(eng, "before_cursor_execute", grab)
    try:
        fn()
    finally:
        event.remove(eng, "before_cursor_execute", grab)
    return statements


def query_plan(db, statement, parameters):
    with connect(db) as con:
        rows = con.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    depth = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def reads(db, experiment_id):
    for q in range(3):  # warm-up
        search(experiment_id, FILTER.format(f"e{q}"), 100)
    times, wrong, counts = [], 0, []
    for q in range(CFG["searches"]):
        env = f"e{q % 10}"
        start = time.perf_counter()
        found = search(experiment_id, FILTER.format(env), 100)
        times.append(time.perf_counter() - start)
        counts.append(len(found))
        wrong += sum(1 for t in found if summary(t) != ("OK", env, 5))
    with connect(db) as con:
        ids = [r[0] for r in con.execute(
            f"SELECT {ID} FROM {TABLE} WHERE experiment_id = ? ORDER BY random() LIMIT ?",
            (int(experiment_id), CFG["gets"]),
        )]
    for rid in ids[:10]:  # warm-up
        get(rid)
    get_times, missing = [], 0
    for rid in ids:
        start = time.perf_counter()
        trace = get(rid)
        get_times.append(time.perf_counter() - start)
        if trace is None or summary(trace)[2] != 5:
            missing += 1
    statements = capture(lambda: search(experiment_id, FILTER.format("e3"), 100))
    main = [s for s in statements if TABLE in s[0] and "LIMIT" in s[0].upper()]
    plan = query_plan(db, *main[0]) if main else []
    return {
        "search_p50_ms": statistics.median(times) * 1000,
        "search_p95_ms": pct(times, 0.95) * 1000,
        "results": min(counts),
        "wrong_results": wrong,
        "get_p50_ms": statistics.median(get_times) * 1000,
        "get_p95_ms": pct(get_times, 0.95) * 1000,
        "gets": len(ids),
        "missing": missing,
        "statements": len(statements),
        "sql": main[0][0] if main else None,
        "plan": plan,
    }


def grow_copy(db, experiment_id, templates, scale, rng):
    # Grow a copy of the database, which nobody else has open, so it is written without a journal (faster
    # for large sizes); returns its path and the time taken.
    flush()
    with connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    start = time.perf_counter()
    copy = os.path.join(CFG["workdir"], f"read_{scale}.db")
    shutil.copyfile(db, copy)
    grow(copy, experiment_id, templates, scale, rng, bulk=True)
    return copy, time.perf_counter() - start


def read_phase(db):
    rng = random.Random(7)
    experiment_id = open_store(db)
    for i in range(CFG["templates"]):  # real traces, the rows the copies are made of
        one_trace(i)
    flush()
    with connect(db) as con:
        templates = con.execute(
            f"SELECT {ID}, {TS} FROM {TABLE} WHERE experiment_id = ? ORDER BY {TS}, {ID}",
            (int(experiment_id),),
        ).fetchall()
    results = {}
    for scale in CFG["scales"]:
        if scale >= CFG["bulk_from"]:
            db, grow_s = grow_copy(db, experiment_id, templates, scale, rng)
            experiment_id = open_store(db)
        else:
            grow_s = grow(db, experiment_id, templates, scale, rng)
        with connect(db) as con:
            stored = con.execute(
                f"SELECT count(*) FROM {TABLE} WHERE experiment_id = ?", (int(experiment_id),)
            ).fetchone()[0]
        print(f"bench: {stored:,} traces (copied in {grow_s:.0f} s), measuring", file=sys.stderr, flush=True)
        results[str(scale)] = {
            **reads(db, experiment_id),
            "stored": stored,
            "grow_s": grow_s,
            "db_mb": os.path.getsize(db) / 1e6,
        }
    return {"templates": len(templates), "scales": results}


started = time.perf_counter()
write = write_phase(os.path.join(CFG["workdir"], "write.db"))
print(f"bench: writes done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
read = read_phase(os.path.join(CFG["workdir"], "read.db"))
print(RESULT_PREFIX + json.dumps({"write": write, **read, "versions": VERSIONS}), flush=True)
"""


@dataclass
class Tool:
    """One column of the table: its interpreter, setup snippet, environment and run settings."""

    label: str
    python: str
    setup: str
    env: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a tool's subprocess reported (or why it failed)."""

    data: dict[str, Any] | None = None
    error: str | None = None
    stderr: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_tool(tool: Tool, workdir: Path) -> Outcome:
    """Run the writes and reads of one tool in a fresh subprocess (cwd: a temp dir, so stores land there).

    The subprocess's ``bench:`` progress lines are echoed as they come; the rest of its stderr is kept.
    """
    config = {**tool.settings, "workdir": str(workdir)}
    constants = f"RESULT_PREFIX = {RESULT_PREFIX!r}\nFILTER = {FILTER!r}\n"
    code = PRELUDE + constants + tool.setup + WORKLOAD + COPY + MEASURE
    started = time.perf_counter()
    proc = subprocess.Popen(
        [tool.python, "-c", code, json.dumps(config)],
        cwd=workdir,
        env=tool.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("bench: "):
                print(f"bench: {tool.label}: {line[7:]}", end="", file=sys.stderr, flush=True)
            else:
                stderr.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    killer = threading.Timer(TIMEOUT_S, proc.kill)
    killer.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.wait()
    killer.cancel()
    reader.join()
    if proc.returncode == -9 and time.perf_counter() - started >= TIMEOUT_S:
        return Outcome(error=f"timed out after {TIMEOUT_S} s", seconds=time.perf_counter() - started)
    outcome = Outcome(seconds=time.perf_counter() - started, stderr=distinct_lines("".join(stderr)))
    outcome.data = parse_result(stdout)
    if outcome.data is None:
        outcome.error = no_result(proc.returncode, "".join(stderr).strip().splitlines())
    return outcome


# --- table -------------------------------------------------------------------------------------------------


def _scale(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def render(outcomes: dict[str, Outcome], settings: dict[str, Any], elapsed: float) -> str:
    """The markdown table, the notes, the EXPLAIN plans and the machine line."""
    spanlog = outcomes["spanlog"].data or {}
    mlflow = outcomes["MLflow"].data or {} if "MLflow" in outcomes else {}

    def read(data: dict[str, Any], scale: int, key: str) -> float | None:
        row = data.get("scales", {}).get(str(scale))
        return None if row is None else float(row[key])

    def cell(data: dict[str, Any], scale: int, key: str) -> str:
        p50 = read(data, scale, f"{key}_p50_ms")
        if p50 is None:
            return "not measured" if data else "n/a"
        return f"{num(p50)} (p95 {num(read(data, scale, f'{key}_p95_ms'))})"

    sizes = sorted({int(s) for s in settings["scales"]} | {int(s) for s in spanlog.get("scales", {})})
    small, big = sizes[0], sizes[-1]
    s_rate = spanlog["write"]["spans_per_s"] if spanlog else None
    m_rate = mlflow["write"]["spans_per_s"] if mlflow else None
    write_ratio = ratio(s_rate, m_rate)
    target = verdict(f"≥ {MIN_SPANS_PER_S:,.0f} spans/s", s_rate, lambda v: v >= MIN_SPANS_PER_S)
    if mlflow:
        target += "; " + verdict(
            f"≥ {MIN_WRITE_RATIO:.0f}x MLflow", write_ratio, lambda v: v >= MIN_WRITE_RATIO
        )
    rows = [
        [
            "W. persisted writes, traces of 5 spans (spans/s)",
            num(s_rate),
            num(m_rate),
            times(write_ratio),
            target,
        ]
    ]
    for key, title, limit in [
        ("search", "S. search, status + tag, 100 results", MAX_SEARCH_MS),
        ("get", "G. get_trace", MAX_GET_MS),
    ]:
        for scale in sizes:
            s_val = read(spanlog, scale, f"{key}_p50_ms")
            target = "-"
            if scale == TARGET_SCALE:
                target = verdict(f"p50 ≤ {limit:.0f} ms", s_val, lambda v, lim=limit: v <= lim)
            elif key == "search" and scale == big and big > small:
                growth = ratio(s_val, read(spanlog, small, "search_p50_ms"))
                target = verdict(
                    f"sublinear: {times(growth)} from {_scale(small)} for {big // small}x the traces",
                    growth,
                    lambda v: v < big / small,
                )
            rows.append(
                [
                    f"{title} at {_scale(scale)} traces, p50 (p95) ms",
                    cell(spanlog, scale, key),
                    cell(mlflow, scale, key) if mlflow else "n/a",
                    times(ratio(read(mlflow, scale, f"{key}_p50_ms"), s_val)),
                    target,
                ]
            )
    header = ["metric", "spanlog", "MLflow", "spanlog advantage", "target"]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join([*lines, "", *_notes(spanlog, mlflow, settings), "", _machine(outcomes, elapsed)]) + "\n"


def _notes(spanlog: dict[str, Any], mlflow: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    tools = [(label, data) for label, data in (("spanlog", spanlog), ("MLflow", mlflow)) if data]
    writes = []
    for label, data in tools:
        w = data["write"]
        runs = f"median of {len(w['reps'])} runs of " if len(w["reps"]) > 1 else ""
        text = (
            f"{label} {runs}{w['traces']:,} traces: {w['persisted']:,} persisted in {w['seconds']:.1f} s, "
            f"{w['caller_seconds']:.1f} s of it in the traced thread"
        )
        lost = sum(r["traces"] - r["persisted"] for r in w["reps"])
        writes.append(text + (f" (**{lost:,} traces never reached the database**)" if lost else ""))
    databases = []
    for label, data in tools:
        scales = data["scales"]
        grown = ", ".join(f"{_scale(int(s))} in {v['grow_s']:.0f} s" for s, v in scales.items())
        sizes = ", ".join(f"{_scale(int(s))} {v['db_mb']:,.0f} MB" for s, v in scales.items())
        problems = sum(v["wrong_results"] + v["missing"] for v in scales.values())
        short = [_scale(int(s)) for s, v in scales.items() if v["results"] < 100]
        statements = "/".join(str(n) for n in sorted({v["statements"] for v in scales.values()}))
        databases.append(
            f"{label}: {data['templates']} seed traces copied up to {grown} (files: {sizes}); "
            f"{statements} SQL statements per search"
            + (f"; **{problems} wrong or missing results**" if problems else "")
            + (f"; fewer than 100 matches at {', '.join(short)}" if short else "")
        )
    notes = [
        "- W: " + "; ".join(writes) + ". Only traces whose 5 spans are all in the database count. Timed from "
        "the first span until `flush_trace_async_logging()` returns, after 5 warm-up traces (store open).",
        f"- S and G: {settings['searches']} searches (the tag value cycling over e0-e9) and "
        f"{settings['gets']} `get_trace` calls on random stored ids per size, after a warm-up, through the "
        'fluent API (`search_traces(..., return_type="list")`, `get_trace`). Every result is checked: status '
        "OK, the tag asked for, 5 spans.",
        "- Data: every trace has a root and 4 children with small JSON inputs and outputs and an `env` tag "
        "(10 values); every 7th fails in its last child (status ERROR): a query matches ~8.6% of the traces. "
        "Each read database is seeded with traces written through the tool's fluent API, then grown in SQL "
        "by copying the seed rows with fresh request ids and later timestamps (MLflow's span JSON and "
        "artifact tag are rewritten to the new id), so each tool reads rows it wrote itself. "
        + "; ".join(databases)
        + ".",
    ]
    if mlflow:
        m_sizes = [int(s) for s in mlflow["scales"]]
        notes.append(
            "- MLflow: sqlite tracking store with its default async trace logging (spans go to its `spans` "
            f"table), telemetry off; measured up to {_scale(max(m_sizes))} traces"
            + (
                ", spanlog alone beyond."
                if spanlog and max(int(s) for s in spanlog["scales"]) > max(m_sizes)
                else "."
            )
        )
    big = str(max(int(s) for s in spanlog.get("scales", {"0": None})))
    if spanlog and spanlog["scales"][big]["plan"]:
        plans = {tuple(v["plan"]) for v in spanlog["scales"].values()}
        same = "the same plan at every size" if len(plans) == 1 else "**the plan differs between sizes**"
        notes += [
            "",
            f"spanlog's search query, `EXPLAIN QUERY PLAN` at {_scale(int(big))} traces ({same}):",
            "",
            "```text",
            *spanlog["scales"][big]["plan"],
            "```",
            "",
            "<details><summary>The SQL it explains</summary>",
            "",
            "```sql",
            *(line.rstrip() for line in spanlog["scales"][big]["sql"].strip().splitlines()),
            "```",
            "",
            "</details>",
        ]
    m_big = str(max((int(s) for s in mlflow.get("scales", {})), default=0))
    if mlflow and mlflow["scales"][m_big]["plan"]:
        notes += [
            "",
            f"MLflow's main search query at {_scale(int(m_big))} traces:",
            "",
            "```text",
            *mlflow["scales"][m_big]["plan"],
            "```",
        ]
    return notes


def _machine(outcomes: dict[str, Outcome], elapsed: float) -> str:
    import sqlite3

    line = machine_line((outcome.data for outcome in outcomes.values()), f"SQLite {sqlite3.sqlite_version}")
    return line[:-1] + f"; whole run {elapsed / 60:.0f} min."


def write_doc(table: str) -> None:
    """Put the table between the bench_store markers of docs/performance.md; when they are missing, add a
    "Trace store" section after the "Core tracing" section (before the next ``## `` heading)."""
    block = f"{START}\n{table}{END}"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    replaced = replace_marked(text, START, END, table)
    if replaced is not None:
        text = replaced
    else:
        section = (
            "## Trace store\n\n"
            "`python dev.py run python bench/bench_store.py`: spanlog's SQLite store and MLflow's SQLite "
            "tracking store, persisted writes and reads as traces pile up.\n\n"
            f"{block}\n"
        )
        core = text.find("## Core tracing")
        after = text.find("\n## ", core + 1) if core != -1 else -1
        if after == -1:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            text = text[: after + 1] + section + "\n" + text[after + 1 :]
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(__doc__, argv, quick="small sizes, few queries (smoke test)")
    started = time.perf_counter()
    scales = [1_000, 10_000] if args.quick else [10_000, TARGET_SCALE]
    settings: dict[str, Any] = {
        "scales": scales,
        "templates": 50 if args.quick else 200,
        "searches": 10 if args.quick else 50,
        "gets": 30 if args.quick else 200,
        "copy_chunk": 50_000,
        "bulk_from": SPANLOG_ONLY_SCALE,  # sizes grown on a journal-less copy of the database
    }
    tools = [
        Tool(
            "spanlog",
            sys.executable,
            SPANLOG_SETUP,
            dict(os.environ),
            {
                **settings,
                "writes": 2_000 if args.quick else 10_000,
                "write_reps": 1 if args.quick else 3,
                "scales": scales if args.quick else [*scales, SPANLOG_ONLY_SCALE],
            },
        )
    ]
    if not args.no_mlflow:
        python = ensure_venv("mlflow", MLFLOW_REQUIREMENTS, MLFLOW_PROBE)
        env = clean_env()
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # no usage reports sent from a benchmark
        for key in (
            "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING",
            "MLFLOW_ENABLE_ASYNC_LOGGING",
            "MLFLOW_TRACKING_URI",
        ):
            env.pop(key, None)
        # MLflow persists ~10-16 traces/s here: 200 traces keep its write run under half a minute.
        tools.append(
            Tool(
                "MLflow",
                str(python),
                MLFLOW_SETUP,
                env,
                {**settings, "writes": 40 if args.quick else 200, "write_reps": 1},
            )
        )

    outcomes: dict[str, Outcome] = {}
    for tool in tools:
        print(f"bench: {tool.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
            outcome = run_tool(tool, Path(tmp))
        outcomes[tool.label] = outcome
        status = f"failed: {outcome.error}" if outcome.error else "done"
        print(f"bench: {tool.label} {status} ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)

    failed = [label for label, outcome in outcomes.items() if outcome.error]
    elapsed = time.perf_counter() - started
    if failed:
        for label in failed:
            print(f"stderr of {label}:", *outcomes[label].stderr[-20:], sep="\n  ", file=sys.stderr)
        print(f"bench: failed: {', '.join(failed)}; docs not written ({elapsed:.0f} s)", file=sys.stderr)
        return 1
    table = render(outcomes, settings, elapsed)
    print(table)
    for label, outcome in outcomes.items():
        if outcome.stderr:
            shown = outcome.stderr[:12]
            more = f" (+{len(outcome.stderr) - len(shown)} more)" if len(outcome.stderr) > len(shown) else ""
            print(f"stderr of {label}{more}:", *(f"  {line}" for line in shown), sep="\n", file=sys.stderr)
    if args.write or not (args.quick or args.no_mlflow):
        write_doc(table)
        print(f"bench: wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    print(f"bench: total {elapsed:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
