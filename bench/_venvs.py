"""Peer virtualenvs for benchmarks: one per tool under bench/.venvs/, created on first use.

Comparing spanlog with another tracer (MLflow, ...) must not install that tracer into the workspace
environment, so each peer gets its own virtualenv, built once and reused while its probe still works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def venv_python(name: str) -> Path:
    """Path of the interpreter of the peer virtualenv ``name`` (it may not exist yet)."""
    bindir = "Scripts" if os.name == "nt" else "bin"
    return VENVS / name / bindir / ("python.exe" if os.name == "nt" else "python")


def ensure_venv(name: str, requirements: list[str], probe: str) -> Path:
    """Create bench/.venvs/<name> with ``requirements`` unless ``python -c probe`` already works there.

    Uses uv when it is on PATH, otherwise ``python -m venv`` and pip. Either way the installed modules are
    compiled to bytecode up front (uv does not by default), so import times measured in the venv are those
    of a normal install. A venv left broken by an interrupted install fails the probe and is rebuilt from
    scratch. Returns the venv's interpreter.
    """
    python = venv_python(name)
    if python.exists() and _works(python, probe):
        return python
    target = VENVS / name
    print(f"bench: creating {target} with {' '.join(requirements)} (once)", file=sys.stderr, flush=True)
    env = clean_env()
    uv = shutil.which("uv")
    if uv:
        subprocess.run(
            [uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(target)], check=True, env=env
        )
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python)]
    else:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(target)], check=True, env=env)
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, *requirements], check=True, env=env)
    if not _works(python, probe):
        raise RuntimeError(f"{target}: `python -c {probe!r}` fails after installing {requirements}")
    return python


def clean_env() -> dict[str, str]:
    """The environment without the workspace venv's markers, so installs and probes target the peer venv."""
    env = dict(os.environ)
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"):
        env.pop(key, None)
    return env


def _works(python: Path, probe: str) -> bool:
    result = subprocess.run([str(python), "-c", probe], capture_output=True, env=clean_env())
    return result.returncode == 0
