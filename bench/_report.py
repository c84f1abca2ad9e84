"""Formatting shared by the benchmarks: numbers, ratios, target verdicts, and de-duplicated stderr lines."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
"""A benchmark subprocess prints its result as this prefix followed by one line of JSON."""


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The JSON result a benchmark subprocess printed on ``stdout`` (its last one), or None."""
    data = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
    return data


def no_result(returncode: int, stderr_lines: list[str]) -> str:
    """The error of a subprocess that printed no result: its exit code and the last lines it wrote."""
    return f"exit code {returncode}, no result\n" + "\n".join(stderr_lines[-8:])


def run_snippet(
    python: str,
    code: str,
    config: Mapping[str, Any],
    workdir: Path,
    env: Mapping[str, str],
    timeout_s: int = 1800,
) -> tuple[dict[str, Any] | None, str | None, list[str], float]:
    """Run ``python -c code config-as-JSON`` in ``workdir``: its result (see :func:`parse_result`), the
    error when there is none, its stderr lines (each once) and the seconds it took."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [python, "-c", code, json.dumps(config)],
            cwd=workdir,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout_s} s", [], time.perf_counter() - started
    seconds = time.perf_counter() - started
    data = parse_result(proc.stdout)
    error = None if data is not None else no_result(proc.returncode, proc.stderr.strip().splitlines())
    return data, error, distinct_lines(proc.stderr), seconds


def distinct_lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, each once, in first-seen order (for a tool's repeated warnings)."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        if line.strip():
            seen.setdefault(line.rstrip(), None)
    return list(seen)


def num(value: float | None) -> str:
    """A measurement with 3 significant digits or so; ``n/a`` when missing."""
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def count(value: float | None) -> str:
    """A whole number (calls or runs per batch, ...) as ``12``; ``n/a`` when missing."""
    return "n/a" if value is None else f"{value:.0f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def times(value: float | None) -> str:
    """A ratio as ``12x`` / ``1.50x``; ``n/a`` when missing."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"


def verdict(text: str, measured: float | None, ok: Callable[[float], bool]) -> str:
    """``"<target>: met"`` or ``"<target>: **missed**"`` (``n/a`` when nothing was measured)."""
    verdict = "n/a" if measured is None else ("met" if ok(measured) else "**missed**")
    return f"{text}: {verdict}"


def replace_marked(text: str, start: str, end: str, table: str) -> str | None:
    """``text`` with the table put between the ``start`` and ``end`` markers, or None when they are missing."""
    first, last = text.find(start), text.find(end)
    if first == -1 or last <= first:
        return None
    return text[:first] + f"{start}\n{table}{end}" + text[last + len(end) :]


def machine_line(outcome_data: Iterable[Mapping[str, Any] | None], extra: str = "") -> str:
    """``Machine: <python>, <os>, <cpus> (<cpu model>); [extra; ]<date>; <package versions>.`` for a table's
    footnote; package versions come from each outcome's ``"versions"`` mapping."""
    versions: dict[str, str] = {}
    for data in outcome_data:
        if data:
            versions.update(data["versions"])
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = f" ({line.split(':', 1)[1].strip()})"
                break
    except OSError:
        pass
    packages = ", ".join(f"{name} {ver}" for name, ver in sorted(versions.items()))
    return (
        f"Machine: {platform.python_implementation()} {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs{cpu}; {extra + '; ' if extra else ''}"
        f"{datetime.date.today().isoformat()}; {packages}."
    )


def bench_arguments(
    doc: str | None,
    argv: list[str] | None,
    quick: str = "few, short repetitions (smoke test)",
    no_mlflow: str = "skip MLflow (no peer venv needed)",
    write: str = "write docs/performance.md with --quick/--no-mlflow",
) -> argparse.Namespace:
    """The options every benchmark takes (``--quick``, ``--no-mlflow``, ``--write``), parsed from ``argv``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--no-mlflow", action="store_true", help=no_mlflow)
    parser.add_argument("--write", action="store_true", help=write)
    return parser.parse_args(argv)
