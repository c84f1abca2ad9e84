"""spanlog's own OpenTelemetry TracerProvider, built on first use.

The global provider is never touched: other OpenTelemetry instrumentations keep theirs, and still see spanlog's
span as their parent because spanlog attaches it to the shared OpenTelemetry context. The SDK is imported
lazily so that ``import spanlog`` stays fast.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_provider: Any = None
_tracer: Any = None


def get_tracer() -> Any:
    """The tracer spanlog starts its OpenTelemetry spans with."""
    if _tracer is None:
        _init()
    return _tracer


def get_tracer_provider() -> Any:
    """spanlog's TracerProvider; add span processors to it to see spanlog's raw OpenTelemetry spans."""
    if _provider is None:
        _init()
    return _provider


def _init() -> None:
    global _provider, _tracer
    with _lock:
        if _provider is not None:
            return
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        import spanlog

        provider = TracerProvider(
            resource=Resource.create({"service.name": "spanlog"}), shutdown_on_exit=False
        )
        _tracer = provider.get_tracer("spanlog", spanlog.__version__)
        _provider = provider
