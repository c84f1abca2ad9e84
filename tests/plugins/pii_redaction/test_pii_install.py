"""Installed = on: the plugin is found through its ``spanlog`` entry point, in this environment and in a
fresh virtualenv, and ``SPANLOG_DISABLE_PLUGINS=pii_redaction`` skips it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest
import spanlog_pii_redaction

import spanlog
import spanlog.plugins

ROOT = Path(__file__).resolve().parents[3]
CORE = ROOT / "core"
PLUGIN = ROOT / "plugins" / "pii-redaction"

SCRIPT = """
import json
import spanlog
from spanlog.export import InMemoryTraceExporter, set_exporter

exporter = InMemoryTraceExporter()
set_exporter(exporter)
with spanlog.start_span("ask") as span:
    span.set_inputs({"question": "Please write to ann@example.com"})
(trace,) = exporter.get_traces()
plugins = {p.name: [p.distribution, p.source, p.state] for p in spanlog.plugins.list_plugins()}
print(json.dumps({"plugins": plugins, "inputs": trace.data.spans[0].inputs}))
"""


@pytest.fixture
def pii_plugin() -> Iterator[None]:
    """Overrides the folder's fixture: nothing is registered by hand, the entry point does it."""
    spanlog_pii_redaction.configure()
    yield


def traced_inputs() -> str:
    with spanlog.start_span("span") as span:
        span.set_inputs("ann@example.com")
    return spanlog.get_last_active_trace().data.spans[0].inputs


@pytest.mark.parametrize("disabled", [False, True])
def test_entry_point_registers_the_plugin(monkeypatch: pytest.MonkeyPatch, disabled: bool) -> None:
    monkeypatch.setenv("SPANLOG_DISABLE_PLUGINS", "pii_redaction" if disabled else "")
    inputs = traced_inputs()
    info = next(p for p in spanlog.plugins.list_plugins() if p.name == "pii_redaction")
    assert (info.distribution, info.source) == ("spanlog-pii-redaction", "entry point")
    if disabled:
        assert (info.state, info.error, inputs) == (
            "disabled",
            "skipped by SPANLOG_DISABLE_PLUGINS",
            "ann@example.com",
        )
    else:
        assert (info.state, info.hooks, inputs) == ("loaded", ["spanlog_span_end"], "[REDACTED:EMAIL]")


def _uv() -> str | None:
    """uv as ``uv run`` announces it, on PATH, where ``dev.py`` installs it, or as the ``uv`` package."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(ROOT / ".tools" / "bin" / "uv")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def _run(cmd: list[str | Path], env: dict[str, str], cwd: Path | None = None) -> str:
    """Run ``cmd``; its stdout, or a failure that shows its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=cwd)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_fresh_virtualenv_discovers_the_plugin_and_redacts(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SPANLOG_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env["SPANLOG_TRACKING_URI"] = f"sqlite:///{tmp_path / 'spanlog.db'}"
    venv = tmp_path / "venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    uv = _uv()
    if uv is not None:
        _run([uv, "venv", "--quiet", "--python", sys.executable, venv], env=env)
        _run([uv, "pip", "install", "--quiet", "--python", python, CORE, PLUGIN], env=env)
    elif find_spec("ensurepip") is not None:
        _run([sys.executable, "-m", "venv", venv], env=env)
        _run(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", CORE, PLUGIN], env=env
        )
    else:
        pytest.skip(
            "no installer: uv is not found (UV, PATH, .tools/bin/uv, uv package) and this Python has no ensurepip"
        )

    found = json.loads(_run([python, "-c", SCRIPT], env=env, cwd=tmp_path))
    assert found == {
        "plugins": {"pii_redaction": ["spanlog-pii-redaction", "entry point", "loaded"]},
        "inputs": {"question": "Please write to [REDACTED:EMAIL]"},
    }
    env["SPANLOG_DISABLE_PLUGINS"] = "pii_redaction"
    skipped = json.loads(_run([python, "-c", SCRIPT], env=env, cwd=tmp_path))
    assert skipped == {
        "plugins": {"pii_redaction": ["spanlog-pii-redaction", "entry point", "disabled"]},
        "inputs": {"question": "Please write to ann@example.com"},
    }
