"""The spanlog plugin: redact a span's inputs, outputs and attributes just before it ends.

Found through the ``spanlog`` entry point ``pii_redaction``, so installing the distribution turns it on;
``SPANLOG_DISABLE_PLUGINS=pii_redaction`` skips it. ``spanlog_span_end`` runs before every span ends,
including spans that end because their trace ended, so nothing reaches an exporter unredacted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import spanlog.plugins
from spanlog.entities import LiveSpan, SpanAttributeKey
from spanlog_pii_redaction.redaction import settings

FAILED = "[REDACTED:REDACTION_FAILED]"
"""What replaces a value whose redaction raised: better to lose the value than to export it unchecked."""


def _redactable(span: LiveSpan) -> Iterator[tuple[Any, Callable[[Any], None]]]:
    """Each part of the span that may hold personal data, as its value and the setter that replaces it.

    Those are the inputs, the outputs, the user's attributes and spanlog's normalized chat attributes
    (``spanlog.chat.*``: messages, tools, tool calls); spanlog's other attributes (request id, span type,
    model name, ...) are bookkeeping and are left alone.
    """
    for key, value in span.attributes.items():
        if key == SpanAttributeKey.INPUTS:
            yield value, span.set_inputs
        elif key == SpanAttributeKey.OUTPUTS:
            yield value, span.set_outputs
        elif not key.startswith("spanlog.") or key.startswith("spanlog.chat."):
            yield value, partial(span.set_attribute, key)


@spanlog.plugins.hookimpl
def spanlog_span_end(span: LiveSpan) -> None:
    """Replace personal data and secrets in the span with ``[REDACTED:<CATEGORY>]`` before it is exported.

    The span's text is searched at once; only when something is found is each value redacted and written
    back. If redacting a value raises, that value becomes ``[REDACTED:REDACTION_FAILED]``, the other values
    are still redacted, and then the error is raised for spanlog to log and count.
    """
    current = settings()
    if not current.enabled:
        return
    fields = list(_redactable(span))
    error: Exception | None = None
    try:
        if not current.finds([value for value, _ in fields]):
            return  # the common case: nothing to redact, nothing written
    except Exception as exc:
        error = exc  # redact value by value below, so that only the failing values are lost
    for value, set_value in fields:
        try:
            new = current.redact(value)
        except Exception as exc:
            new, error = FAILED, error or exc
        if new is not value:
            set_value(new)
    if error is not None:
        raise error
