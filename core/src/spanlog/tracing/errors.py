"""Stack traces for exception events, with spanlog's own frames left out so users see only their code."""

from __future__ import annotations

import os
import traceback

import spanlog

_SPANLOG_DIR = os.path.dirname(os.path.abspath(spanlog.__file__)) + os.sep


def user_stacktrace(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` without frames from spanlog's package directory."""
    try:
        te = traceback.TracebackException.from_exception(exc, capture_locals=False)
        _strip(te)
        return "".join(te.format())
    except Exception:  # a broken __str__ or a strange traceback must not break tracing
        return f"{type(exc).__name__}: <traceback unavailable>"


def _strip(te: traceback.TracebackException) -> None:
    todo: list[traceback.TracebackException | None] = [te]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        kept = [f for f in current.stack if not (f.filename or "").startswith(_SPANLOG_DIR)]
        current.stack = traceback.StackSummary.from_list(kept)
        todo.extend((current.__cause__, current.__context__))
        todo.extend(getattr(current, "exceptions", None) or ())
