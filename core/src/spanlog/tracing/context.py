"""Carry the active span into threads and executors.

Sync and async code, and asyncio tasks, inherit the active span by themselves (contextvars). A new thread or a
plain ``ThreadPoolExecutor`` starts with an empty context: wrap the function, or use the executor below.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def wrap_context(func: Callable[..., T]) -> Callable[..., T]:
    """Return ``func`` bound to the caller's current context (and so its active span), for another thread.

    Each call runs in a fresh copy of that context, so one wrapped function may run in many threads at once.
    """
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def run_in_context(*args: Any, **kwargs: Any) -> T:
        return captured.copy().run(func, *args, **kwargs)

    return run_in_context


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run under the span that was active when they were submitted."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Like ``ThreadPoolExecutor.submit``, with the submitter's context carried along."""
        return super().submit(wrap_context(fn), *args, **kwargs)
