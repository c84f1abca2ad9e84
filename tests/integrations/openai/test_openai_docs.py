"""docs/integrations/openai.md runs, as tests/docs/test_docs.py runs every docs page: its Python blocks in
order, in one namespace. Here it runs with the recorder, so that ``scripts/record_cassettes.py openai``
records the cassette the page replays (its hidden first block opens ``docs_integrations_openai``)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import spanlog
from spanlog.export import set_exporter

PAGE = Path(__file__).resolve().parents[3] / "docs" / "integrations" / "openai.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_openai_docs_page_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spanlog.set_tracking_uri(str(tmp_path / "docs.db"))
    set_exporter(None)
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_openai")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    text = PAGE.read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 5  # the hidden setup, the examples, the hidden teardown

    def run(match: re.Match[str]) -> None:
        line = text.count("\n", 0, match.start(1)) + 1
        exec(compile("\n" * (line - 1) + match.group(1), str(PAGE), "exec"), module.__dict__)

    try:
        for match in blocks[:-1]:
            run(match)
    finally:
        run(blocks[-1])  # the hidden teardown: saves the cassette and restores the environment, always
    set_exporter(None)
    spanlog.config.reset()
