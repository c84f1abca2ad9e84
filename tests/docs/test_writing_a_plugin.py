"""docs/writing-a-plugin.md, end to end: the package the page builds is installed into a fresh virtualenv,
found through its entry point, listed by ``spanlog plugins`` exactly as the page shows, and traces."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

from test_docs import write_files

from fresh_venv import ROOT, clean_env, make_venv

PAGE = ROOT / "docs" / "writing-a-plugin.md"

APP = """
import json

import spanlog
import tinyllm

spanlog.tinyllm.autolog()
with spanlog.start_span("app"):
    tinyllm.Client().generate("a b c")
    words = list(tinyllm.Client().stream("x y"))
trace = spanlog.get_last_active_trace()
print(json.dumps({
    "words": words,
    "spans": [[s.name, s.span_type, s.attributes.get("deployment")] for s in trace.data.spans],
    "usage": trace.info.token_usage,
    "state": spanlog.tinyllm.state,
}))
"""


def test_the_walk_through_package_installs_and_traces(tmp_path: Path) -> None:
    text = PAGE.read_text(encoding="utf-8")
    write_files(text, tmp_path)
    # the library of the walk-through, installed as the distribution 'tinyllm' 1.0.0
    library = tmp_path / "tinyllm-dist"
    (library / "tinyllm").mkdir(parents=True)
    (library / "tinyllm" / "__init__.py").write_text((tmp_path / "tinyllm.py").read_text())
    (library / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "tinyllm"
            version = "1.0.0"
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [tool.hatch.build.targets.wheel]
            packages = ["tinyllm"]
            """
        )
    )
    bindir = make_venv(tmp_path / "venv", str(ROOT / "core"), str(library), str(tmp_path / "spanlog-tinyllm"))
    env = clean_env(SPANLOG_TRACKING_URI=f"sqlite:///{tmp_path / 't.db'}")

    listed = subprocess.run([str(bindir / "spanlog"), "plugins"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    console = re.search(r"```console\n\$ spanlog plugins\n(.*?)```", text, re.S)
    assert console is not None
    assert listed.stdout == console.group(1), "the page shows what 'spanlog plugins' prints"

    app = tmp_path / "app.py"
    app.write_text(APP)
    out = subprocess.run(
        [str(bindir / "python"), str(app)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["words"] == ["y", "x"]
    assert report["spans"] == [
        ["app", "UNKNOWN", "docs"],
        ["tinyllm.generate", "LLM", "docs"],
        ["tinyllm.stream", "LLM", "docs"],
    ]
    assert report["usage"] == {"input_tokens": 3, "output_tokens": 3, "total_tokens": 6}
    assert report["state"] == "active"
