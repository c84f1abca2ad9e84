"""The active experiment and run: ``set_experiment``, ``start_run``. New traces record both."""

from __future__ import annotations

import contextvars
import os
import threading
from typing import TYPE_CHECKING, Any

from spanlog.entities import Experiment, Run, RunStatus
from spanlog.exceptions import InvalidArgumentError, SpanlogError

if TYPE_CHECKING:
    from spanlog.store.base import TraceStore

_lock = threading.Lock()
DEFAULT_EXPERIMENT_ID = "0"
_active_experiment_id: str | None = None
_active_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar("spanlog_active_run", default=None)


def get_registry() -> TraceStore:
    """Where experiments and runs are kept: the trace store at the tracking URI."""
    from spanlog.config import get_store

    return get_store()


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make the experiment called ``experiment_name`` (created if new), or with ``experiment_id``, active.

    Traces started from now on are recorded in it. Returns the experiment.
    """
    global _active_experiment_id
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidArgumentError("set_experiment() needs exactly one of experiment_name or experiment_id")
    registry = get_registry()
    if experiment_id is not None:
        experiment = registry.get_experiment(str(experiment_id))
    else:
        experiment = registry.get_or_create_experiment(str(experiment_name))
    _active_experiment_id = experiment.experiment_id
    return experiment


def active_experiment_id() -> str:
    """The experiment new traces go to: the one set last, else ``SPANLOG_EXPERIMENT_NAME``, else "0"."""
    global _active_experiment_id
    if _active_experiment_id is None:
        name = os.environ.get("SPANLOG_EXPERIMENT_NAME")
        if name:
            _active_experiment_id = get_registry().get_or_create_experiment(name).experiment_id
        else:
            _active_experiment_id = DEFAULT_EXPERIMENT_ID
    return _active_experiment_id


def active_run() -> Run | None:
    """The run started by the innermost ``start_run`` in this context, or None."""
    return _active_run.get()


class ActiveRun:
    """What ``start_run`` returns: the run, usable as a context manager that ends it."""

    def __init__(self, run: Run, token: contextvars.Token[Run | None]) -> None:
        self._run = run
        self._token = token
        self._ended = False

    @property
    def info(self) -> Any:
        """The run's RunInfo."""
        return self._run.info

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._run.info.run_id

    def end(self, status: RunStatus = RunStatus.FINISHED) -> None:
        """End the run (once) and make the previous run active again."""
        if self._ended:
            return
        self._ended = True
        get_registry().end_run(self.run_id, status)
        try:
            _active_run.reset(self._token)
        except ValueError:  # ended from another context: just clear it there
            _active_run.set(None)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end(RunStatus.FAILED if exc_type is not None else RunStatus.FINISHED)


def start_run(
    run_name: str | None = None, nested: bool = False, experiment_id: str | None = None
) -> ActiveRun:
    """Start a run in the active experiment; traces started while it is active are linked to it.

    Use as ``with spanlog.start_run():``. A second run inside an active one needs ``nested=True``.
    """
    if _active_run.get() is not None and not nested:
        raise SpanlogError(
            f"run {_active_run.get().info.run_id!r} is already active; "  # type: ignore[union-attr]
            "end it first or pass nested=True"
        )
    run = get_registry().create_run(str(experiment_id or active_experiment_id()), run_name)
    return ActiveRun(run, _active_run.set(run))


def end_run(status: RunStatus = RunStatus.FINISHED) -> None:
    """End the active run, if any."""
    run = _active_run.get()
    if run is not None:
        get_registry().end_run(run.info.run_id, status)
        _active_run.set(None)


def reset() -> None:
    """Forget experiments, runs and the active experiment (tests use this)."""
    global _active_experiment_id
    with _lock:
        _active_experiment_id = None
    _active_run.set(None)
