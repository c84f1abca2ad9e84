"""Search and manage stored traces: ``spanlog.search_traces`` (a pandas DataFrame or Trace objects),
``delete_traces``, ``set_trace_tag``, ``delete_trace_tag``. Every call first writes queued traces, so a trace that
finished before the call is always seen (read-your-writes)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from spanlog.entities import Trace
from spanlog.exceptions import InvalidArgumentError

SEARCH_PAGE_SIZE = 1000
DATAFRAME_COLUMNS = [
    "request_id",
    "trace",
    "timestamp_ms",
    "status",
    "execution_time_ms",
    "request",
    "response",
    "request_metadata",
    "spans",
    "tags",
]
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class PagedList(list):
    """A page of traces with the ``token`` of the next page (None on the last page).

    ``page["trace"]`` is the list itself and ``page["request_id"]`` the ids, so code written for a DataFrame
    of traces (``traces["trace"][0]``) keeps working.
    """

    def __init__(self, items: Sequence[Trace], token: str | None) -> None:
        super().__init__(items)
        self.token = token

    def __getitem__(self, key: Any) -> Any:
        if key == "trace":
            return list(self)
        if key == "request_id":
            return [t.info.request_id for t in self]
        return super().__getitem__(key)


def _flush() -> None:
    from spanlog.config import flush_trace_async_logging

    flush_trace_async_logging()


def _store() -> Any:
    from spanlog.config import get_store

    _flush()
    return get_store()


def _experiments(experiment_ids: Sequence[str] | None) -> list[str]:
    if experiment_ids is None:
        from spanlog.tracking.fluent import active_experiment_id

        return [active_experiment_id()]
    if isinstance(experiment_ids, str):
        raise InvalidArgumentError(f"experiment_ids is a list of ids, got the string {experiment_ids!r}")
    return [str(e) for e in experiment_ids]


def search_trace_page(
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    max_results: int | None,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> PagedList:
    """One page of matching traces (what ``SpanlogClient.search_traces`` returns)."""
    page = _store().search_traces(
        _experiments(experiment_ids), filter_string, max_results, order_by, page_token
    )
    return PagedList(page.traces, page.token)


def search_traces(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str | None = None,
    max_results: int | None = None,
    order_by: Sequence[str] | None = None,
    extract_fields: Sequence[str] | None = None,
    run_id: str | None = None,
    return_type: str = "pandas",
) -> Any:
    """Traces of the experiments (default: the active one) matching ``filter_string``, as a pandas DataFrame
    (one row per trace, plus one column per ``extract_fields`` entry such as ``"span1.outputs.c"``) or, with
    ``return_type="list"``, as Trace objects. ``max_results=None`` returns every match."""
    if return_type not in ("pandas", "list"):
        raise InvalidArgumentError(f"return_type must be 'pandas' or 'list', got {return_type!r}")
    fields = [_parse_extract_field(f) for f in extract_fields or []]
    if run_id is not None:
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise InvalidArgumentError(f"run_id must be a run's 32 hex digit id, got {run_id!r}")
        condition = f"attributes.run_id = '{run_id}'"  # safe: validated hex
        filter_string = (
            f"({filter_string}) AND {condition}" if filter_string and filter_string.strip() else condition
        )
    store = _store()
    experiments = _experiments(experiment_ids)
    traces: list[Trace] = []
    token: str | None = None
    while True:
        want = SEARCH_PAGE_SIZE if max_results is None else min(SEARCH_PAGE_SIZE, max_results - len(traces))
        page = store.search_traces(experiments, filter_string, want, order_by, token)
        traces.extend(page.traces)
        token = page.token
        if token is None or (max_results is not None and len(traces) >= max_results):
            break
    if return_type == "list":
        return traces
    return _dataframe(traces, fields, list(extract_fields or []))


def _dataframe(traces: list[Trace], fields: list[tuple[str, str, str | None]], names: list[str]) -> Any:
    import pandas as pd

    rows = []
    for trace in traces:
        info = trace.info
        row: dict[str, Any] = {
            "request_id": info.request_id,
            "trace": trace,
            "timestamp_ms": info.timestamp_ms,
            "status": info.status.value,
            "execution_time_ms": info.execution_time_ms,
            "request": trace.data.request,
            "response": trace.data.response,
            "request_metadata": dict(info.request_metadata),
            "spans": [s.to_dict() for s in trace.data.spans],
            "tags": dict(info.tags),
        }
        for name, (span_name, part, key) in zip(names, fields, strict=True):
            row[name] = _extract(trace, span_name, part, key)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*DATAFRAME_COLUMNS, *names])


def _parse_extract_field(field: str) -> tuple[str, str, str | None]:
    """``span.inputs``, ``span.outputs.key``; backticks around names containing dots."""
    if not isinstance(field, str):
        raise InvalidArgumentError(f"an extract field is a string like 'span.inputs', got {field!r}")
    parts: list[str] = []
    rest = field.strip()
    while rest:
        if rest.startswith("`"):
            end = rest.find("`", 1)
            if end < 0:
                raise InvalidArgumentError(f"extract field {field!r}: unterminated backtick")
            parts.append(rest[1:end])
            rest = rest[end + 1 :]
            if rest and not rest.startswith("."):
                raise InvalidArgumentError(f"extract field {field!r}: expected '.' after a backticked name")
            rest = rest[1:]
        else:
            head, _, rest = rest.partition(".")
            parts.append(head)
    if len(parts) == 2 and parts[1] in ("inputs", "outputs"):
        return parts[0], parts[1], None
    if len(parts) >= 3 and parts[1] in ("inputs", "outputs"):
        return parts[0], parts[1], ".".join(parts[2:])
    raise InvalidArgumentError(
        f"extract field {field!r} must be 'span_name.inputs', 'span_name.outputs' or 'span_name.inputs.key' "
        "(backtick names that contain dots: '`my.span`.outputs')"
    )


def _extract(trace: Trace, span_name: str, part: str, key: str | None) -> Any:
    for span in trace.data.spans:
        if span.name == span_name:
            value = span.inputs if part == "inputs" else span.outputs
            if key is None:
                return value
            return value.get(key) if isinstance(value, dict) else None
    return None


def delete_traces(
    experiment_id: str | None = None,
    max_timestamp_millis: int | None = None,
    max_traces: int | None = None,
    request_ids: Sequence[str] | None = None,
) -> int:
    """Delete stored traces by experiment, age and/or ids; returns how many were deleted. Irreversible."""
    return int(_store().delete_traces(experiment_id, max_timestamp_millis, max_traces, request_ids))


def set_trace_tag(request_id: str, key: str, value: str) -> None:
    """Set a tag on a stored trace."""
    _store().set_trace_tag(request_id, key, value)


def delete_trace_tag(request_id: str, key: str) -> None:
    """Remove a tag from a stored trace."""
    _store().delete_trace_tag(request_id, key)


def count_traces(experiment_ids: Sequence[str] | None = None, filter_string: str | None = None) -> int:
    """How many stored traces match."""
    return int(_store().count_traces(_experiments(experiment_ids), filter_string))
