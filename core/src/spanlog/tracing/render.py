"""Render a trace as an indented text tree: what the demo prints and what tests compare against."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spanlog.entities.span import SpanAttributeKey

if TYPE_CHECKING:
    from spanlog.entities import Span, Trace


def render_trace(trace: Trace, *, io: bool = False, attributes: bool = False, width: int = 100) -> str:
    """One line per span, ``name [TYPE] STATUS``, children indented under their parent in start order.

    ``io`` adds the inputs and outputs (as JSON, cut at ``width``) under each span; ``attributes`` the user
    attributes; the status message of a failed span is always shown.
    """
    spans = trace.data.spans
    children: dict[str | None, list[Span]] = {}
    ids = {s.span_id for s in spans}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time_ns)
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        pad = "  " * depth
        status = span.status
        line = f"{pad}{span.name} [{span.span_type}] {status.status_code.value}"
        if status.description:
            line += f" ({status.description})"
        lines.append(line)
        attrs = span._attrs
        if io:
            for label, key in (("in", SpanAttributeKey.INPUTS), ("out", SpanAttributeKey.OUTPUTS)):
                if key in attrs:
                    lines.append(f"{pad}  {label}: {_cut(attrs[key], width)}")
        if attributes:
            for key, value in attrs.items():
                if not key.startswith("spanlog."):
                    lines.append(f"{pad}  @{key}: {_cut(value, width)}")
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
