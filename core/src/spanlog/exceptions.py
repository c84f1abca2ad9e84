"""Errors a user of spanlog can cause. Each names the bad value and what would be valid."""

from __future__ import annotations


class SpanlogError(Exception):
    """Base class of every error spanlog raises on purpose."""


class InvalidArgumentError(SpanlogError, ValueError):
    """An argument has a value spanlog cannot use."""


class TraceNotFoundError(SpanlogError, LookupError):
    """No trace has the given request id (or it has already ended)."""


class SpanNotFoundError(SpanlogError, LookupError):
    """No span of the trace has the given span id (or it has already ended)."""


class InvalidFilterError(SpanlogError, ValueError):
    """A search filter or order_by string is malformed; the message quotes it and points at the bad token."""


class StoreError(SpanlogError):
    """The trace store failed (unreachable, locked, or its schema is newer than this spanlog)."""


class ExperimentNotFoundError(SpanlogError, LookupError):
    """No experiment has the given id or name."""
