#!/usr/bin/env python3
"""Record an integration's HTTP cassettes from real traffic with a real local model.

    python scripts/record_cassettes.py openai                          # every test of tests/integrations/openai
    python scripts/record_cassettes.py openai tests/integrations/openai/test_openai_chat.py::test_x
    python scripts/record_cassettes.py langchain --servers python      # only the Python-server pass
    python scripts/record_cassettes.py anthropic --servers cpp         # tests/plugins/anthropic

Run it with the workspace interpreter (``python dev.py run python scripts/record_cassettes.py ...`` or
``.venv/bin/python ...``): pytest and the integration come from there. It installs the model servers on first
use (``scripts/model_server.py install`` / ``install-cpp``, under ``.tools/``), then makes one pass per server
that some selected test needs. Each pass serves the model on 127.0.0.1:8765 (``tests/cassettes.py``
``MODEL_PORT``, where replay expects the requests), runs the selected tests with ``SPANLOG_RECORD=1``
(vcrpy ``record_mode="all"``: every cassette the tests use is written anew, secrets scrubbed by
``tests/cassettes.py``) and ``-p no:randomly``, then stops the server.

Which server a test needs, by pytest marker (registered in the root pyproject.toml):

==========================  =================================================================================
(no marker)                 the Python server (llama-cpp-python): chat, stream, tools, completions, JSON mode
``needs_embedding_server``  the Python server with embeddings on
``needs_cpp_server``        llama.cpp's C++ llama-server: usage chunks, ``/v1/responses``, ``json_schema``
``hand_written_cassette``   never recorded: the cassette is written by hand from the provider's API reference
==========================  =================================================================================

After a full run (every pass, the default tests) it lists the cassettes of the integration that the run did
not write and that are not marked as hand-written (a line ``# hand-written ...`` at the top): leftovers of
renamed or removed tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_server  # noqa: E402

MODEL_PORT = 8765  # tests/cassettes.py MODEL_PORT: cassettes are replayed against this address
CASSETTES = ROOT / "cassettes"
HAND_WRITTEN_MARK = "# hand-written"
SERVER_MARKERS = ("needs_embedding_server", "needs_cpp_server", "hand_written_cassette")


@dataclass(frozen=True)
class Pass:
    """One server configuration and the tests recorded against it (a pytest ``-m`` expression)."""

    name: str
    marker_expression: str
    server: dict[str, bool] = field(default_factory=dict)


PASSES = (
    Pass("python", " and ".join(f"not {marker}" for marker in SERVER_MARKERS), {"cpp": False}),
    Pass("embedding", "needs_embedding_server", {"cpp": False, "embedding": True}),
    Pass("cpp", "needs_cpp_server", {"cpp": True}),
)


def _log(message: str) -> None:
    print(f"[record] {message}", flush=True)


def _pytest(tests: list[str], marker_expression: str, extra: list[str]) -> list[str]:
    """The pytest command line of one pass."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *tests,
        "-m",
        marker_expression,
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *extra,
    ]


def _selected(tests: list[str], marker_expression: str, env: dict[str, str]) -> int:
    """How many of the tests this pass would run (collection only)."""
    cmd = [sys.executable, "-m", "pytest", *tests, "-m", marker_expression, "--collect-only", "-q"]
    cmd += ["-p", "no:randomly", "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 5):  # 5: nothing collected
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"collecting {tests} failed (exit code {proc.returncode})")
    return sum(1 for line in proc.stdout.splitlines() if "::" in line)


def _install(passes: list[Pass]) -> None:
    model_server.install()  # the model and the Python server, needed by every pass (skips finished steps)
    if any(p.server.get("cpp") for p in passes):
        model_server.install_cpp()


def _stale(integration: str, started: float) -> list[Path]:
    """Cassettes of the integration this run did not write, except hand-written ones."""
    folder = CASSETTES / integration
    stale = []
    for path in sorted(folder.glob("*.yaml")):
        if path.stat().st_mtime >= started:
            continue
        with path.open(encoding="utf-8") as file:
            if file.readline().startswith(HAND_WRITTEN_MARK):
                continue
        stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("integration", help="cassettes/<integration>/ and, by default, its tests")
    parser.add_argument(
        "tests",
        nargs="*",
        help="test files or node ids (default: tests/integrations/<name>, else tests/plugins/<name>)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(p.name for p in PASSES),
        help="comma-separated passes to run (default: all of python,embedding,cpp)",
    )
    parser.add_argument("--pytest-args", default="", help="extra arguments for pytest, e.g. '-x -q'")
    args = parser.parse_args(argv)

    default = ROOT / "tests" / "integrations" / args.integration
    if not default.exists():  # a worked third-party plugin keeps its tests under tests/plugins/
        default = ROOT / "tests" / "plugins" / args.integration
    tests = args.tests or [str(default.relative_to(ROOT))]
    wanted = {name.strip() for name in args.servers.split(",") if name.strip()}
    unknown = wanted - {p.name for p in PASSES}
    if unknown:
        parser.error(f"unknown server pass(es) {sorted(unknown)}; known: {[p.name for p in PASSES]}")
    env = dict(os.environ)
    env.pop("SPANLOG_RECORD", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    passes = []
    for candidate in PASSES:
        if candidate.name not in wanted:
            continue
        count = _selected(tests, candidate.marker_expression, env)
        _log(f"pass {candidate.name}: {count} test(s)")
        if count:
            passes.append(candidate)
    if not passes:
        _log("nothing to record")
        return 0

    _install(passes)
    (CASSETTES / args.integration).mkdir(parents=True, exist_ok=True)
    started = time.time()
    failed = []
    record_env = {**env, "SPANLOG_RECORD": "1"}
    extra = args.pytest_args.split()
    for current in passes:
        _log(f"pass {current.name}: starting the model server on port {MODEL_PORT}")
        base_url, stop = model_server.start(MODEL_PORT, **current.server)  # type: ignore[arg-type]
        try:
            _log(f"pass {current.name}: serving at {base_url}; recording")
            cmd = _pytest(tests, current.marker_expression, extra)
            code = subprocess.call(cmd, cwd=ROOT, env=record_env)
        finally:
            stop()
            _log(f"pass {current.name}: server stopped")
        if code != 0:
            failed.append(f"{current.name} (pytest exit code {code})")

    everything = not args.tests and wanted == {p.name for p in PASSES}
    stale = _stale(args.integration, started) if everything else []
    if stale:
        _log("cassettes this run did not write (not hand-written): leftovers, or tests not selected:")
        for path in stale:
            print(f"  {path.relative_to(ROOT)}", flush=True)
    if failed:
        _log(f"failed passes: {', '.join(failed)}")
        return 1
    _log(f"done: replay with `pytest {' '.join(tests)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
