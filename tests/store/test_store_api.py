"""The store behind the public API, on SQLite and PostgreSQL: the guide's search, get, delete, tag and async
logging examples, round trips, pagination, and read-your-writes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest

import spanlog
from spanlog import SpanlogClient
from spanlog.export import set_exporter


@pytest.fixture
def store(store_uri: str) -> Iterator[str]:
    """Traces go through the default (store) exporter to a fresh store at ``store_uri``."""
    spanlog.set_tracking_uri(store_uri)
    set_exporter(None)
    yield store_uri
    set_exporter(None)
    spanlog.config.reset()


def test_search_with_extract_fields_as_in_the_guide(store: str) -> None:
    for _ in range(2):
        with spanlog.start_span(name="span1") as span:
            span.set_inputs({"a": 1, "b": 2})
            span.set_outputs({"c": 3, "d": 4})
    traces = spanlog.search_traces(extract_fields=["span1.inputs", "span1.outputs.c"])
    assert list(traces.columns) == [
        "request_id", "trace", "timestamp_ms", "status", "execution_time_ms", "request", "response",
        "request_metadata", "spans", "tags", "span1.inputs", "span1.outputs.c",
    ]  # fmt: skip
    assert len(traces) == 2
    assert traces["span1.inputs"].tolist() == [{"a": 1, "b": 2}] * 2
    assert traces["span1.outputs.c"].tolist() == [3, 3]
    assert all(r.startswith("tr-") for r in traces["request_id"])
    assert traces["status"].tolist() == ["OK", "OK"]
    assert traces["request"][0] == '{"a":1,"b":2}'
    assert traces["spans"][0][0]["name"] == "span1"
    assert isinstance(traces["trace"][0], spanlog.entities.Trace)


def test_extract_fields_with_backticks_and_missing_spans(store: str) -> None:
    with spanlog.start_span(name="my.span") as span:
        span.set_outputs({"answer": 42})
    df = spanlog.search_traces(extract_fields=["`my.span`.outputs.answer", "other.inputs"])
    assert df["`my.span`.outputs.answer"].tolist() == [42]
    assert df["other.inputs"].tolist() == [None]
    with pytest.raises(spanlog.SpanlogError, match=r"must be 'span_name\.inputs'"):
        spanlog.search_traces(extract_fields=["span1.params"])


def test_client_search_get_and_faq_dataframe_style_access(store: str) -> None:
    experiment = spanlog.set_experiment("Intentional Exception")
    with pytest.raises(Exception, match="Intentionally"):
        with spanlog.start_span(name="A Problematic Span") as span:
            span.set_inputs({"input": "Exception should log as event"})
            span.set_attribute("a", "b")
            raise Exception("Intentionally throwing!")
    client = spanlog.SpanlogClient()
    traces = client.search_traces(experiment_ids=[experiment.experiment_id])
    stored = traces["trace"][0].data.spans[0].to_dict()
    assert stored["status_code"] == "ERROR"
    assert stored["status_message"] == "Exception: Intentionally throwing!"
    assert stored["events"][0]["attributes"]["exception.type"] == "Exception"
    assert stored["attributes"]["a"] == '"b"'
    assert stored == spanlog.get_last_active_trace().data.spans[0].to_dict()
    trace = client.get_trace(span.request_id)
    assert trace.to_dict() == spanlog.get_last_active_trace().to_dict()
    assert spanlog.get_trace(span.request_id).info.experiment_id == experiment.experiment_id
    ok = client.search_traces(
        experiment_ids=[experiment.experiment_id], filter_string="attributes.status = 'OK'"
    )
    assert list(ok) == [] and ok.token is None


def test_round_trip_of_a_rich_trace(store: str) -> None:
    @spanlog.trace(span_type="TOOL", attributes={"tool": {"name": "calc", "v": [1, 2.5, None]}})
    def tool(x):
        spanlog.get_current_active_span().add_event("note", {"k": "v"})
        return {"y": x * 2, "s": "ünïcode ✓"}

    with spanlog.start_span("root", span_type="AGENT") as root:
        root.set_inputs("question")
        tool(2)
        spanlog.update_current_trace(tags={"env": "prod"}, metadata={"session": "s1"})
    expected = spanlog.get_last_active_trace().to_dict()
    got = spanlog.get_trace(root.request_id)
    assert got.to_dict() == expected


def test_pagination_with_tokens_is_complete_and_stable(store: str) -> None:
    ids = []
    for i in range(25):
        with spanlog.start_span(f"t{i}") as span:
            ids.append(span.request_id)
    client = SpanlogClient()
    seen, token = [], None
    while True:
        page = client.search_traces(["0"], max_results=7, order_by=["timestamp_ms ASC"], page_token=token)
        seen.extend(t.info.request_id for t in page)
        # traces written while paging do not disturb the pages already handed out
        with spanlog.start_span("late"):
            pass
        token = page.token
        if token is None:
            break
    assert set(seen[:25]) == set(ids)  # the 25 first traces come first, whatever the later writes
    assert len(seen) == len(set(seen))
    keys = [(t.info.timestamp_ms, t.info.request_id) for t in spanlog.search_traces(return_type="list")]
    order = {rid: i for i, (_, rid) in enumerate(sorted(keys))}
    assert [order[r] for r in seen] == sorted(order[r] for r in seen)  # ordered by (timestamp, id)


def test_delete_traces_by_time_count_and_ids(store: str) -> None:
    client = SpanlogClient()
    experiment = spanlog.set_experiment("to delete")
    ids = []
    for i in range(6):
        with spanlog.start_span(f"t{i}") as span:
            ids.append(span.request_id)
        time.sleep(0.002)
    spanlog.flush_trace_async_logging()
    current_time = int(time.time() * 1000)
    assert (
        client.delete_traces(
            experiment_id=experiment.experiment_id, max_timestamp_millis=current_time, max_traces=2
        )
        == 2
    )
    remaining = spanlog.search_traces(experiment_ids=[experiment.experiment_id], return_type="list")
    assert sorted(t.info.request_id for t in remaining) == sorted(ids[2:])  # the oldest went first
    assert spanlog.delete_traces(request_ids=[ids[2], "tr-" + "0" * 32]) == 1
    assert spanlog.count_traces([experiment.experiment_id]) == 3
    assert client.get_trace(ids[3]).info.request_id == ids[3]
    with pytest.raises(spanlog.TraceNotFoundError):
        client.get_trace(ids[2])
    with pytest.raises(spanlog.SpanlogError, match="never deletes everything"):
        spanlog.delete_traces()


def test_set_and_delete_trace_tag(store: str) -> None:
    client = SpanlogClient()
    with spanlog.start_span("tagged") as span:
        pass
    request_id = span.request_id
    client.set_trace_tag(request_id=request_id, key="tag_key", value="tag_value")
    assert client.get_trace(request_id).info.tags["tag_key"] == "tag_value"
    spanlog.set_trace_tag(request_id, "tag_key", "new")
    assert spanlog.get_trace(request_id).info.tags["tag_key"] == "new"
    client.delete_trace_tag(request_id=request_id, key="tag_key")
    assert "tag_key" not in client.get_trace(request_id).info.tags
    with pytest.raises(spanlog.TraceNotFoundError, match="no tag 'tag_key'"):
        client.delete_trace_tag(request_id, "tag_key")
    with pytest.raises(spanlog.TraceNotFoundError, match="no stored trace"):
        client.set_trace_tag("tr-" + "1" * 32, "k", "v")


def test_async_logging_switch_and_flush(store: str) -> None:
    spanlog.config.enable_async_logging()
    with spanlog.start_span(name="foo") as span:
        span.set_inputs({"a": 1})
        span.set_outputs({"b": 2})
    assert spanlog.flush_trace_async_logging() is True
    spanlog.config.enable_async_logging(False)
    with spanlog.start_span(name="bar"):
        pass
    exporter = spanlog.export.get_exporter()
    assert exporter.pending() == 0 and exporter.asynchronous is False
    names = sorted(t.data.spans[0].name for t in spanlog.search_traces(return_type="list"))
    assert names == ["bar", "foo"]
    spanlog.config.enable_async_logging(True)


def test_read_your_writes_under_load(store: str) -> None:
    @spanlog.trace
    def work(i):
        return i

    for i in range(300):
        work(i)
    # no explicit flush: the search itself makes sure every finished trace is visible
    assert spanlog.count_traces() == 300
    df = spanlog.search_traces(max_results=5, order_by=["timestamp_ms DESC"])
    assert len(df) == 5 and isinstance(df, pd.DataFrame)


def test_run_id_filter_in_search(store: str) -> None:
    with spanlog.start_run() as run:
        with spanlog.start_span("in run"):
            pass
    with spanlog.start_span("outside"):
        pass
    in_run = spanlog.search_traces(run_id=run.info.run_id, return_type="list")
    assert [t.data.spans[0].name for t in in_run] == ["in run"]
    with pytest.raises(spanlog.SpanlogError, match="run_id"):
        spanlog.search_traces(run_id="x' OR 1=1 --")
