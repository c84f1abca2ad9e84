"""Every ```python block of README.md and docs/*.md runs: the blocks of one page in order, in one namespace.

A block whose info string names a file (```python file=pkg/mod.py, ```toml file=pkg/pyproject.toml) shows
a file the reader saves: it is written under the page's working folder instead of being run.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
FILE_BLOCK = re.compile(r"^```\w+ file=(\S+)\n(.*?)^```", re.S | re.M)


def write_files(text: str, folder: Path) -> list[Path]:
    """Write the page's file blocks under ``folder``; returns their paths."""
    written = []
    for match in FILE_BLOCK.finditer(text):
        path = folder / match.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(match.group(2), encoding="utf-8")
        written.append(path)
    return written


def _pages_with_code() -> list[Path]:
    return [page for page in PAGES if BLOCK.search(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import spanlog
    from spanlog.export import set_exporter

    # as for a user: the default exporter and a store of its own (never ./.spanlog)
    spanlog.set_tracking_uri(str(tmp_path / "docs.db"))
    set_exporter(None)
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(f"docs_{page.stem}")  # a real module, as dataclasses and pickling expect
    monkeypatch.setitem(sys.modules, module.__name__, module)
    text = page.read_text(encoding="utf-8")
    write_files(text, tmp_path)
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start(1)) + 1
        code = compile("\n" * (line - 1) + match.group(1), str(page), "exec")
        exec(code, module.__dict__)
    set_exporter(None)
    spanlog.config.reset()


def test_every_docs_page_is_found() -> None:
    names = {p.name for p in _pages_with_code()}
    assert {"README.md", "tracing.md", "schema.md"} <= names
