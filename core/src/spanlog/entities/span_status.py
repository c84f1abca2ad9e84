"""Span status: whether the work a span covers succeeded, failed, or was never judged."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from spanlog.exceptions import InvalidArgumentError


class SpanStatusCode(str, Enum):
    """Status codes of a span, as OpenTelemetry defines them."""

    UNSET = "UNSET"
    OK = "OK"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SpanStatus:
    """A status code and, for errors, a message such as ``"ValueError: bad input"``."""

    status_code: SpanStatusCode
    description: str = ""

    @staticmethod
    def coerce(status: SpanStatus | SpanStatusCode | str) -> SpanStatus:
        """Accept a SpanStatus, a SpanStatusCode or its name ("OK", "ERROR", "UNSET")."""
        if isinstance(status, SpanStatus):
            return status
        if isinstance(status, SpanStatusCode):
            return SpanStatus(status)
        if isinstance(status, str):
            try:
                return SpanStatus(SpanStatusCode(status.upper()))
            except ValueError:
                pass
        raise InvalidArgumentError(
            f"invalid span status {status!r}: use 'OK', 'ERROR', 'UNSET', a SpanStatusCode or a SpanStatus"
        )


OK_STATUS = SpanStatus(SpanStatusCode.OK)
UNSET_STATUS = SpanStatus(SpanStatusCode.UNSET)
