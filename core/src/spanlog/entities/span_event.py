"""Span events: timestamped, named points inside a span (an exception, a first token, a retry)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SpanEvent:
    """A named event at ``timestamp`` (ns since the epoch) with plain-data attributes."""

    name: str
    timestamp: int = field(default_factory=time.time_ns)
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The event as ``{"name", "timestamp", "attributes"}``."""
        return {"name": self.name, "timestamp": self.timestamp, "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpanEvent:
        """Rebuild an event from :meth:`to_dict` output."""
        return cls(
            name=data["name"], timestamp=int(data["timestamp"]), attributes=dict(data.get("attributes") or {})
        )

    @classmethod
    def from_exception(cls, exc: BaseException, stacktrace: str) -> SpanEvent:
        """The ``exception`` event OpenTelemetry defines: type, message and stack trace."""
        return cls(
            name="exception",
            attributes={
                "exception.type": type(exc).__name__,
                "exception.message": exception_message(exc),
                "exception.stacktrace": stacktrace,
                "exception.escaped": "False",
            },
        )


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's ``__str__`` itself fails."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}.__str__ failed>"
