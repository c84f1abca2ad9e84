"""``spanlog traces`` commands on a real store: search, get, delete, export and import."""

from __future__ import annotations

from pathlib import Path

import pytest

import spanlog
from spanlog.cli import main
from spanlog.export import set_exporter


@pytest.fixture
def stored(tmp_path: Path) -> list[str]:
    spanlog.set_tracking_uri(str(tmp_path / "cli.db"))
    set_exporter(None)
    ids = []
    for i in range(3):
        with spanlog.start_span(f"job{i}", span_type="CHAIN") as span:
            span.set_inputs({"i": i})
            with spanlog.start_span("step", span_type="TOOL"):
                pass
            spanlog.update_current_trace(tags={"env": "prod" if i else "dev"})
        ids.append(span.request_id)
    spanlog.flush_trace_async_logging()
    yield ids
    set_exporter(None)
    spanlog.config.reset()


def test_search_get_delete(stored: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "search", "--filter", "tags.env = 'prod'", "--order-by", "timestamp_ms ASC"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["request_id", "time", "(UTC)"]
    assert sorted(line.split()[0] for line in out[1:]) == sorted(stored[1:])
    assert main(["traces", "get", stored[0]]) == 0
    out = capsys.readouterr().out
    assert 'job0 [CHAIN] OK\n  in: {"i":0}\n  step [TOOL] OK' in out
    assert main(["traces", "delete", "--request-id", stored[0]]) == 0
    assert "deleted 1 trace(s)" in capsys.readouterr().out
    assert main(["traces", "get", stored[0]]) == 1
    assert main(["traces", "search", "--filter", "tags.env = "]) == 2
    assert "Invalid filter" in capsys.readouterr().err


def test_export_then_import_into_another_store(
    stored: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "traces.jsonl"
    assert main(["traces", "export", "-o", str(dump)]) == 0
    assert len(dump.read_text().splitlines()) == 3
    other = tmp_path / "other.db"
    assert main(["--tracking-uri", str(other), "traces", "import", str(dump)]) == 0
    assert "imported 3 trace(s)" in capsys.readouterr().err
    assert main(["--tracking-uri", str(other), "traces", "search", "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(spanlog.entities.Trace.from_json(line).info.request_id for line in lines) == sorted(stored)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "a trace"}\n')
    assert main(["traces", "import", str(bad)]) == 2
    assert "line 1" in capsys.readouterr().err
