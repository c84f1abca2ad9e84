#!/usr/bin/env python3
"""One entry point for working on spanlog from a fresh machine with only Python and pip.

    python dev.py demo     trace a small example app and print its trace trees
    python dev.py test     run the whole test suite (what CI runs), then the OpenAI tests with openai 3.x
    python dev.py lint     ruff and mypy on core/
    python dev.py sync     install the workspace into .venv (done by the others as needed)
    python dev.py run ...  run any command inside the workspace environment

It installs uv into .tools/ when uv is not on PATH, then lets uv build .venv from uv.lock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    bindir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    uv = bindir / ("uv.exe" if os.name == "nt" else "uv")
    if not uv.exists():
        print("dev.py: installing uv into .tools/ (once)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(TOOLS)
        subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"],
            check=True,
        )
    return str(uv)


def _sync(uv: str) -> None:
    cmd = [uv, "sync", "--all-packages", "--all-extras", "--quiet"]
    if (ROOT / "uv.lock").exists():
        cmd.append("--locked")
    subprocess.run(cmd, cwd=ROOT, check=True)


# openai 2.x is in the lock (llama-index-llms-openai pins openai<3); 3.x (httpx2 instead of httpx) is layered
# over the environment for one pass of the tests that exercise the SDK directly
OPENAI_3X = ["--with", "openai>=3,<4"]
OPENAI_3X_TESTS = ["tests/integrations/openai", "tests/docs/test_docs.py"]


def _run(uv: str, args: list[str]) -> int:
    return subprocess.call([uv, "run", "--no-sync", *args], cwd=ROOT)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    uv = _uv()
    _sync(uv)
    if command == "sync":
        return 0
    if command == "demo":
        return _run(uv, ["spanlog", "demo", *rest])
    if command == "test":
        code = _run(uv, ["pytest", *rest])
        if not rest:  # the whole suite: the OpenAI integration also runs against the newest openai 3.x
            print("dev.py: the OpenAI integration tests again, with openai 3.x", file=sys.stderr, flush=True)
            code |= _run(uv, [*OPENAI_3X, "python", "-m", "pytest", "-q", *OPENAI_3X_TESTS])
        return code
    if command == "lint":
        code = _run(uv, ["ruff", "check", "."])
        code |= _run(uv, ["ruff", "format", "--check", "."])
        code |= _run(uv, ["mypy"])
        return code
    if command == "run":
        return _run(uv, rest)
    print(f"dev.py: unknown command {command!r}; try 'python dev.py help'", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
