"""Where experiments and runs live. In memory for now; the trace store takes this role over when one is set."""

from __future__ import annotations

import threading
import time
import uuid

from spanlog.entities import Experiment, Run, RunInfo, RunStatus
from spanlog.exceptions import ExperimentNotFoundError, InvalidArgumentError, SpanlogError

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class InMemoryTrackingRegistry:
    """Experiments by id and name, and runs by id. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._experiments: dict[str, Experiment] = {}
        self._runs: dict[str, Run] = {}
        self._next_id = 1
        self._add(Experiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, _now_ms()))

    def _add(self, experiment: Experiment) -> Experiment:
        self._experiments[experiment.experiment_id] = experiment
        return experiment

    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created if it does not exist yet."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgumentError(f"an experiment name must be a non-empty string, got {name!r}")
        with self._lock:
            for experiment in self._experiments.values():
                if experiment.name == name:
                    return experiment
            experiment_id = str(self._next_id)
            self._next_id += 1
            return self._add(Experiment(experiment_id, name, _now_ms()))

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; raises ExperimentNotFoundError otherwise."""
        with self._lock:
            experiment = self._experiments.get(str(experiment_id))
        if experiment is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        return experiment

    def list_experiments(self) -> list[Experiment]:
        """Every experiment, by id."""
        with self._lock:
            return list(self._experiments.values())

    def create_run(self, experiment_id: str, run_name: str | None) -> Run:
        """A new RUNNING run in the experiment."""
        run_id = uuid.uuid4().hex
        run = Run(RunInfo(run_id, experiment_id, run_name or f"run-{run_id[:8]}", _now_ms()))
        with self._lock:
            self._runs[run_id] = run
        return run

    def end_run(self, run_id: str, status: RunStatus) -> None:
        """Mark the run ended with ``status``."""
        with self._lock:
            run = self._runs[run_id]
            run.info.status = status
            run.info.end_time_ms = _now_ms()

    def get_run(self, run_id: str) -> Run:
        """The run with this id; raises SpanlogError otherwise."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise SpanlogError(f"no run with id {run_id!r}")
        return run


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
