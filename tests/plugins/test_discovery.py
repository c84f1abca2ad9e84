"""Plugins installed into a fresh virtualenv are discovered through the ``spanlog`` entry-point group, their
hooks run, and a plugin that fails to import is reported without breaking spanlog."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from fresh_venv import ROOT, clean_env, make_venv


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def _distribution(
    folder: Path, dist: str, module: str, entry_name: str, source: str, extra: str = ""
) -> Path:
    _write(
        folder / "pyproject.toml",
        f"""
        [project]
        name = "{dist}"
        version = "1.2.3"
        dependencies = ["spanlog"]
        {extra}

        [project.entry-points.spanlog]
        {entry_name} = "{module}"

        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [tool.hatch.build.targets.wheel]
        packages = ["{module}"]
        """,
    )
    _write(folder / module / "__init__.py", source)
    return folder


GREETER = '''
    """A third-party plugin: instruments its own small library and stamps every span."""

    import importlib

    import spanlog
    from spanlog.plugins import Integration, hookimpl


    def _patch(ctx):
        lib = importlib.import_module("greeter_plugin.lib")

        def wrapper(call, instance, args, kwargs):
            with spanlog.start_span("greet", span_type="LLM") as span:
                span.set_inputs({"name": args[0]})
                result = call(*args, **kwargs)
                span.set_outputs(result)
            return result

        ctx.patch(lib, "greet", wrapper)


    @hookimpl
    def spanlog_integrations():
        return [Integration(name="greeter", library="greeter-plugin", module="greeter_plugin.lib", patch=_patch)]


    @hookimpl
    def spanlog_span_start(span):
        span.set_attribute("stamped_by", "greeter")
'''

GREETER_LIB = """
    def greet(name):
        return "hello " + name
"""

BROKEN = """
    raise ImportError("this plugin needs a library that is not installed")
"""

SCRIPT = """
    import json, subprocess, sys

    import spanlog

    loaded_at_import = "greeter_plugin" in sys.modules
    spanlog.set_tracking_uri("sqlite:///" + sys.argv[1])
    spanlog.greeter.autolog()
    from greeter_plugin import lib

    @spanlog.trace
    def app():
        return lib.greet("world")

    result = app()
    trace = spanlog.get_last_active_trace()
    print(json.dumps({
        "loaded_at_import": loaded_at_import,
        "result": result,
        "spans": [[s.name, s.span_type, s.attributes.get("stamped_by")] for s in trace.data.spans],
        "plugins": {p.name: [p.state, p.distribution, p.version, p.error] for p in spanlog.plugins.list_plugins()},
    }))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fresh")
    greeter = _distribution(base / "greeter", "greeter-plugin", "greeter_plugin", "greeter", GREETER)
    _write(greeter / "greeter_plugin" / "lib.py", GREETER_LIB)
    broken = _distribution(base / "broken", "broken-plugin", "broken_plugin", "broken", BROKEN)
    return make_venv(base / "venv", str(ROOT / "core"), str(greeter), str(broken)).parent


def test_entry_point_plugin_is_discovered_and_its_hooks_run(venv: Path, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    _write(script, SCRIPT)
    out = subprocess.run(
        [str(venv / "bin" / "python"), str(script), str(tmp_path / "t.db")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["loaded_at_import"] is False, "plugins load on first use, not at import spanlog"
    assert report["result"] == "hello world"
    assert report["spans"] == [["app", "UNKNOWN", "greeter"], ["greet", "LLM", "greeter"]]
    assert report["plugins"]["greeter"] == ["loaded", "greeter-plugin", "1.2.3", None]
    state, dist, _version, error = report["plugins"]["broken"]
    assert (state, dist) == ("failed to load", "broken-plugin")
    assert error == "ImportError: this plugin needs a library that is not installed"
    assert "spanlog plugin 'broken'" in out.stderr and "failed to load" in out.stderr


def test_cli_lists_plugins_with_their_state(venv: Path) -> None:
    out = subprocess.run(
        [str(venv / "bin" / "spanlog"), "plugins"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["INTEGRATION", "LIBRARY", "INSTALLED", "SUPPORTED", "STATE"]
    assert lines[1].split() == ["spanlog.greeter", "greeter-plugin", "1.2.3", "any", "available"]
    broken = next(line for line in lines if line.startswith("broken"))
    assert "broken-plugin 1.2.3" in broken
    assert "failed to load (ImportError: this plugin needs a library that is not installed)" in broken

    out = subprocess.run(
        [str(venv / "bin" / "spanlog"), "plugins", "--format", "json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    data = json.loads(out.stdout)
    assert data["integrations"][0]["state"] == "available"
    assert data["plugins"][0]["state"] == "failed to load"


def test_disable_plugins_switch(venv: Path, tmp_path: Path) -> None:
    code = "import spanlog; print({p.name: p.state for p in spanlog.plugins.list_plugins()})"
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(SPANLOG_DISABLE_PLUGINS="greeter,broken"),
        timeout=120,
    )
    assert out.stdout.strip() == "{'broken': 'disabled', 'greeter': 'disabled'}"
