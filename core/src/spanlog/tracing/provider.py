"""spanlog's own OpenTelemetry TracerProvider, built when first asked for.

The global provider is never touched: other OpenTelemetry instrumentations keep theirs, and still see spanlog's
span as their parent because spanlog puts it in the shared OpenTelemetry context.

A spanlog span is backed by an SDK span only while span processors are registered on this provider (that is
what an SDK span is for: feeding processors). Otherwise spanlog draws ids the way the SDK's default id
generator does and shows OpenTelemetry a ``NonRecordingSpan`` with its ids, which costs ~1 µs instead of the
SDK span's ~20 µs. The SDK is imported only when the provider is first asked for.
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


def reset_for_tests() -> None:
    """Drop the provider (and its processors) so the next span uses a fresh state."""
    global _provider, _tracer
    with _lock:
        _provider = None
        _tracer = None
