"""Experiments and runs: where traces are grouped. A trace records the experiment and run active when it began."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


@dataclass
class Experiment:
    """A named group of traces (and runs). ``"0"`` is the ``Default`` experiment."""

    experiment_id: str
    name: str
    creation_time_ms: int
    tags: dict[str, str] = field(default_factory=dict)
    lifecycle_stage: str = "active"

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "creation_time_ms": self.creation_time_ms,
            "tags": dict(self.tags),
            "lifecycle_stage": self.lifecycle_stage,
        }


class RunStatus(str, Enum):
    """The state of a run."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    def __str__(self) -> str:
        return self.value


@dataclass
class RunInfo:
    """A run's identity and lifetime."""

    run_id: str
    experiment_id: str
    run_name: str
    start_time_ms: int
    end_time_ms: int | None = None
    status: RunStatus = RunStatus.RUNNING


@dataclass
class Run:
    """One execution (a script, a notebook session, an evaluation) whose traces are linked to it."""

    info: RunInfo

    @property
    def run_id(self) -> str:
        """Shortcut for ``info.run_id``."""
        return self.info.run_id
