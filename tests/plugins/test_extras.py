"""Extras: ``spanlog[openai]`` (and ``[all]``) installs the integration package and no target library; plain
``spanlog`` installs neither, and ``spanlog.openai`` then names the extra to install."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path

from packaging.requirements import Requirement

from fresh_venv import ROOT, clean_env, make_venv

TARGET_LIBRARIES = {
    "openai",
    "anthropic",
    "langchain",
    "langchain-core",
    "llama-index-core",
    "autogen-agentchat",
}

PROBE = r"""
import importlib.metadata as m, json, spanlog
names = sorted(d.metadata["Name"].lower() for d in m.distributions())
try:
    spanlog.openai.autolog()
    error = None
except AttributeError as exc:
    error = str(exc)
print(json.dumps({"names": names, "error": error, "state": None if error else spanlog.openai.state}))
"""


def probe(bindir: Path) -> dict:
    out = subprocess.run(
        [str(bindir / "python"), "-c", PROBE], capture_output=True, text=True, env=clean_env()
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_core_metadata_maps_extras_to_integration_packages_only() -> None:
    requirements = [Requirement(r) for r in importlib.metadata.requires("spanlog") or []]
    by_extra: dict[str, set[str]] = {}
    for req in requirements:
        marker = str(req.marker or "")
        extra = marker.split("==")[-1].strip().strip("'\"") if "extra" in marker else ""
        by_extra.setdefault(extra, set()).add(req.name)
    assert by_extra["openai"] == {"spanlog-openai"}
    assert by_extra["all"] >= {"spanlog-openai"}
    assert not (by_extra[""] & TARGET_LIBRARIES), "plain spanlog installs no target library"


def test_plain_install_then_the_openai_extra(tmp_path: Path) -> None:
    plain = probe(make_venv(tmp_path / "plain", str(ROOT / "core")))
    assert "spanlog-openai" not in plain["names"] and not (set(plain["names"]) & TARGET_LIBRARIES)
    assert plain["error"] == (
        "spanlog.openai needs the openai integration, which is not installed: pip install 'spanlog[openai]'"
    )

    extra = probe(
        make_venv(tmp_path / "extra", f"{ROOT / 'core'}[openai]", str(ROOT / "integrations" / "openai"))
    )
    assert "spanlog-openai" in extra["names"]
    assert not (set(extra["names"]) & TARGET_LIBRARIES), "the extra installs the integration, not openai"
    assert extra["error"] is None and extra["state"] == "waiting for import"
