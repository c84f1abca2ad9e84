"""Build a fresh virtualenv with uv (from the warm uv cache, so it takes seconds) for install-level tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_uv() -> str | None:
    """uv from this environment (a dev dependency) or PATH."""
    here = Path(sys.executable).parent / "uv"
    return str(here) if here.exists() else shutil.which("uv")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test suite's SPANLOG_* settings or an active virtualenv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPANLOG_", "VIRTUAL_ENV", "UV_PROJECT"))}
    env.update(extra)
    return env


def make_venv(folder: Path, *requirements: str) -> Path:
    """A virtualenv at ``folder`` with ``requirements`` (paths or names) installed; returns its bin folder."""
    uv = find_uv()
    if uv is None:
        pytest.skip("needs uv to build a fresh virtualenv (a dev dependency: run `python dev.py sync`)")
    env = clean_env()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(folder)], check=True, env=env)
    bindir = folder / "bin"
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(bindir / "python"), *requirements],
        check=True,
        env=env,
        timeout=300,
    )
    return bindir
