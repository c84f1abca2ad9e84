"""The ``spanlog`` command line: the demo, installed plugins, and searching, showing, deleting, exporting and
importing traces."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spanlog`` command."""
    parser = argparse.ArgumentParser(prog="spanlog", description="Tracing for GenAI applications.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--tracking-uri", help="the store to use (default: SPANLOG_TRACKING_URI or ./.spanlog)"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("demo", help="trace a small example app, store and print its trace trees")
    plugins = commands.add_parser(
        "plugins", help="list installed plugins and integrations: library, version, supported range, state"
    )
    plugins.add_argument("--format", choices=["table", "json"], default="table")

    traces = commands.add_parser("traces", help="search, show, delete, export and import stored traces")
    sub = traces.add_subparsers(dest="action", required=True)
    search = sub.add_parser("search", help="list traces matching a filter")
    _scope(search)
    search.add_argument("--filter", dest="filter_string", help="e.g. \"attributes.status = 'ERROR'\"")
    search.add_argument("--order-by", action="append", help="e.g. 'timestamp_ms DESC' (repeatable)")
    search.add_argument("--max-results", type=int, default=25)
    search.add_argument("--format", choices=["table", "json"], default="table")
    get = sub.add_parser("get", help="show one trace as a tree")
    get.add_argument("request_id")
    get.add_argument("--format", choices=["tree", "json"], default="tree")
    delete = sub.add_parser("delete", help="delete traces (by ids, or by experiment and age)")
    delete.add_argument("--experiment-id")
    delete.add_argument("--request-id", action="append", dest="request_ids")
    delete.add_argument("--max-timestamp-millis", type=int)
    delete.add_argument("--max-traces", type=int)
    export = sub.add_parser("export", help="write traces as JSON lines")
    _scope(export)
    export.add_argument("--filter", dest="filter_string")
    export.add_argument("--output", "-o", default="-", help="a file, or - for stdout")
    import_ = sub.add_parser("import", help="read traces from JSON lines into the store")
    import_.add_argument("input", help="a file written by 'spanlog traces export', or - for stdin")

    args = parser.parse_args(argv)
    if args.version:
        import spanlog

        print(spanlog.__version__)
        return 0
    if args.tracking_uri:
        import spanlog

        spanlog.set_tracking_uri(args.tracking_uri)
    if args.command == "demo":
        from spanlog.demo import main as demo_main

        return demo_main()
    if args.command == "plugins":
        return _plugins(args.format)
    if args.command == "traces":
        from spanlog.exceptions import SpanlogError

        try:
            return _traces(args)
        except SpanlogError as exc:
            print(f"spanlog: {exc}", file=sys.stderr)
            return 2
    parser.print_help()
    return 0


def _plugins(fmt: str) -> int:
    """Print every discovered plugin and integration with its state (and why, when it is not usable)."""
    import json

    from spanlog.plugins import list_integrations, list_plugins
    from spanlog.plugins.integration import installed_version

    plugins = list_plugins()
    integrations = list_integrations()
    rows: list[dict[str, Any]] = []
    for state in integrations:
        integration = state.integration
        label = state.state()
        reason = state.error or state.skipped
        plugin = next((p for p in plugins if p.name == state.plugin), None)
        rows.append(
            {
                "integration": integration.name,
                "plugin": state.plugin,
                "distribution": plugin.distribution if plugin else None,
                "library": integration.library,
                "installed": installed_version(integration.library),
                "supported": state.supported,
                "state": label,
                "reason": reason,
            }
        )
    others: list[dict[str, Any]] = [
        {
            "plugin": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "hooks": p.hooks,
            "state": p.state,
            "reason": p.error,
        }
        for p in plugins
        if not any(state.plugin == p.name for state in integrations)
    ]
    if fmt == "json":
        print(json.dumps({"integrations": rows, "plugins": others}, indent=2))
        return 0
    if not rows and not others:
        print("no spanlog plugins installed (pip install 'spanlog[openai]', 'spanlog[langchain]', ...)")
        return 0
    if rows:
        table = [["INTEGRATION", "LIBRARY", "INSTALLED", "SUPPORTED", "STATE"]]
        for row in rows:
            state_text = row["state"] + (f" ({row['reason']})" if row["reason"] else "")
            table.append(
                [
                    f"spanlog.{row['integration']}",
                    row["library"],
                    row["installed"] or "-",
                    row["supported"] or "any",
                    state_text,
                ]
            )
        _print_columns(table)
    if others:
        if rows:
            print()
        table = [["PLUGIN", "DISTRIBUTION", "HOOKS", "STATE"]]
        for other in others:
            dist = f"{other['distribution']} {other['version']}" if other["distribution"] else "-"
            state_text = other["state"] + (f" ({other['reason']})" if other["reason"] else "")
            table.append([other["plugin"], dist, ", ".join(other["hooks"]) or "-", state_text])
        _print_columns(table)
    return 0


def _print_columns(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])


def _scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiment-id", action="append", dest="experiment_ids", help="default: all experiments"
    )


def _experiments(ids: list[str] | None) -> list[str]:
    if ids:
        return ids
    from spanlog.config import get_store

    return [e.experiment_id for e in get_store().list_experiments()]


def _traces(args: Any) -> int:
    import spanlog
    from spanlog.config import get_store

    if args.action == "search":
        page = get_store().search_traces(
            _experiments(args.experiment_ids), args.filter_string, args.max_results, args.order_by
        )
        if args.format == "json":
            for trace in page.traces:
                print(trace.to_json())
        else:
            _print_table(page.traces)
        return 0
    if args.action == "get":
        found = get_store().get_trace(args.request_id)
        if found is None:
            print(f"spanlog: no stored trace with request_id {args.request_id!r}", file=sys.stderr)
            return 1
        if args.format == "json":
            print(found.to_json(pretty=True))
        else:
            from spanlog.tracing.render import render_trace

            info = found.info
            print(
                f"{info.request_id}  experiment {info.experiment_id}  {info.status.value}  {info.execution_time_ms} ms"
            )
            print(render_trace(found, io=True, attributes=True))
        return 0
    if args.action == "delete":
        count = spanlog.delete_traces(
            args.experiment_id, args.max_timestamp_millis, args.max_traces, args.request_ids
        )
        print(f"deleted {count} trace(s)")
        return 0
    if args.action == "export":
        return _export(args)
    if args.action == "import":
        return _import(args)
    return 2


def _print_table(traces: list[Any]) -> None:
    import datetime

    print(f"{'request_id':<36} {'time (UTC)':<19} {'status':<6} {'ms':>7} {'spans':>5}  name")
    for trace in traces:
        info = trace.info
        when = datetime.datetime.fromtimestamp(info.timestamp_ms / 1000, datetime.timezone.utc)
        name = trace.data.spans[0].name if trace.data.spans else ""
        print(
            f"{info.request_id:<36} {when:%Y-%m-%d %H:%M:%S} {info.status.value:<6} "
            f"{info.execution_time_ms or 0:>7} {len(trace.data.spans):>5}  {name}"
        )


def _progress(done: int, total: int | None) -> None:
    if not sys.stderr.isatty():
        return
    if total:
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    else:
        sys.stderr.write(f"\r{done} traces")
    sys.stderr.flush()


def _export(args: Any) -> int:
    from spanlog.config import get_store

    store = get_store()
    experiments = _experiments(args.experiment_ids)
    total = store.count_traces(experiments, args.filter_string)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    done, token = 0, None
    try:
        while True:
            page = store.search_traces(experiments, args.filter_string, 500, ["timestamp_ms ASC"], token)
            for trace in page.traces:
                out.write(trace.to_json() + "\n")
            done += len(page.traces)
            _progress(done, total)
            token = page.token
            if token is None:
                break
    finally:
        if out is not sys.stdout:
            out.close()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"exported {done} trace(s)", file=sys.stderr)
    return 0


def _import(args: Any) -> int:
    from spanlog.config import get_store
    from spanlog.entities import Trace
    from spanlog.exceptions import InvalidArgumentError

    store = get_store()
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    batch: list[Trace] = []
    done = 0
    try:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                batch.append(Trace.from_json(line))
            except Exception as exc:
                raise InvalidArgumentError(f"line {number} of {args.input} is not a trace: {exc}") from exc
            if len(batch) >= 500:
                store.log_traces(batch)
                done += len(batch)
                batch = []
                _progress(done, None)
        if batch:
            store.log_traces(batch)
            done += len(batch)
    finally:
        if source is not sys.stdin:
            source.close()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"imported {done} trace(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
