"""The trace store interface: where traces, their tags and metadata, experiments and runs are kept and found.

Implementations: ``SqlAlchemyStore`` (SQLite, the embedded default, and PostgreSQL). The export layer writes to
a store through ``log_traces``; the search API reads through the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from spanlog.entities import Experiment, Run, RunStatus, Trace


@dataclass
class TracePage:
    """One page of search results and the opaque token of the next page (None on the last page)."""

    traces: list[Trace]
    token: str | None


class TraceStore(ABC):
    """Everything spanlog keeps. Thread-safe; methods raise ``spanlog.exceptions.StoreError`` when the store
    cannot be reached and ``SpanlogError`` subclasses for bad arguments."""

    # -- traces -------------------------------------------------------------------------------------------
    @abstractmethod
    def log_traces(self, traces: Sequence[Trace]) -> None:
        """Persist finished traces in one transaction. Idempotent: a trace written again replaces itself."""

    @abstractmethod
    def get_trace(self, request_id: str) -> Trace | None:
        """The trace with this id, or None."""

    @abstractmethod
    def search_traces(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        max_results: int | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> TracePage:
        """Traces matching the filter, ordered, one page at a time (keyset pagination)."""

    @abstractmethod
    def count_traces(
        self, experiment_ids: Sequence[str] | None = None, filter_string: str | None = None
    ) -> int:
        """How many traces match."""

    @abstractmethod
    def delete_traces(
        self,
        experiment_id: str | None = None,
        max_timestamp_millis: int | None = None,
        max_traces: int | None = None,
        request_ids: Sequence[str] | None = None,
    ) -> int:
        """Delete traces (oldest first when ``max_traces`` caps the count); returns how many were deleted."""

    @abstractmethod
    def set_trace_tag(self, request_id: str, key: str, value: str) -> None:
        """Set a tag on a stored trace."""

    @abstractmethod
    def delete_trace_tag(self, request_id: str, key: str) -> None:
        """Remove a tag from a stored trace."""

    # -- experiments and runs -----------------------------------------------------------------------------
    @abstractmethod
    def get_or_create_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``, created if new."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; raises ``ExperimentNotFoundError`` otherwise."""

    @abstractmethod
    def list_experiments(self) -> list[Experiment]:
        """Every experiment."""

    @abstractmethod
    def create_run(self, experiment_id: str, run_name: str | None) -> Run:
        """A new RUNNING run."""

    @abstractmethod
    def end_run(self, run_id: str, status: RunStatus) -> None:
        """Mark a run ended."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with this id."""

    def close(self) -> None:  # noqa: B027 - optional for stores without resources
        """Release connections."""
