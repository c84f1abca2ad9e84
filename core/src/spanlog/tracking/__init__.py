"""Experiments and runs that traces are grouped under."""

from __future__ import annotations

from spanlog.tracking.fluent import (
    ActiveRun,
    active_experiment_id,
    active_run,
    end_run,
    get_registry,
    set_experiment,
    start_run,
)

__all__ = [
    "ActiveRun",
    "active_experiment_id",
    "active_run",
    "end_run",
    "get_registry",
    "set_experiment",
    "start_run",
]
