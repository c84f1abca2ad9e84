"""Streams of LlamaIndex's OpenAI(-compatible) LLMs: one model span, with the provider's span suppressed.

LlamaIndex's ``stream_chat`` returns a generator and leaves its span at once; the HTTP request is sent only
when the user starts reading, in the user's context, where the model span is no longer active. So the
OpenAI integration would record the request as a second model span, outside the tree. This module wraps
the generators that ``llama_index.llms.openai.OpenAI`` (and its subclasses such as ``OpenAILike``) build,
so that each step of the stream runs with the model span active and provider spans suppressed.

The patch is installed when ``llama_index.llms.openai`` is imported (now, if it already is) and undone by
``autolog(disable=True)`` like every patch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from spanlog.plugins import PROVIDER, AutologContext, suppress_spans, use_span

# listed in spanlog.plugins.__all__ but not imported there: take it from its module
from spanlog.plugins.patching import report_patch_failure
from spanlog_llama_index.extract import MODEL_TYPES
from spanlog_llama_index.handlers import INTEGRATION, current_entry

_MODULE = "llama_index.llms.openai.base"
_SYNC = ("_stream_chat", "_stream_complete")
_ASYNC = ("_astream_chat", "_astream_complete")


def _steps(stream: Iterator[Any], span: Any) -> Iterator[Any]:
    try:
        while True:
            with suppress_spans(PROVIDER), use_span(span):
                try:
                    item = next(stream)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _async_steps(stream: AsyncIterator[Any], span: Any) -> AsyncIterator[Any]:
    try:
        while True:
            with suppress_spans(PROVIDER), use_span(span):
                try:
                    item = await stream.__anext__()
                except StopAsyncIteration:
                    return
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _model_span() -> Any:
    entry = current_entry()
    return entry.span if entry is not None and entry.span_type in MODEL_TYPES else None


def _sync_wrapper(call: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    stream = call(*args, **kwargs)
    span = _model_span()
    return stream if span is None else _steps(stream, span)


async def _async_wrapper(call: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    stream = await call(*args, **kwargs)
    span = _model_span()
    return stream if span is None else _async_steps(stream, span)


def patch_openai_llm(ctx: AutologContext, module: Any) -> None:
    """Wrap the stream builders of ``llama_index.llms.openai.base.OpenAI``."""
    owner = getattr(module, "OpenAI", None)
    if owner is None:
        return
    for name in _SYNC:
        if hasattr(owner, name):
            ctx.patch(owner, name, _sync_wrapper, is_async=False)
    for name in _ASYNC:
        if hasattr(owner, name):
            ctx.patch(owner, name, _async_wrapper, is_async=True)


_watching: list[AutologContext | None] = [None]  # the installed integration's context, if any
_hook_registered = False


def watch_openai_llm(ctx: AutologContext) -> None:
    """Patch ``llama_index.llms.openai`` now if it is imported, else the moment it is (while installed)."""
    global _hook_registered
    import sys

    _watching[0] = ctx
    module = sys.modules.get(_MODULE)
    if module is not None:
        patch_openai_llm(ctx, module)
    elif not _hook_registered:  # one hook per process, however often autolog is switched on and off
        import wrapt

        _hook_registered = True
        wrapt.register_post_import_hook(_on_import, _MODULE)


def unwatch_openai_llm(ctx: AutologContext) -> None:
    """Stop patching on import for ``ctx`` (its patches are undone by the core)."""
    if _watching[0] is ctx:
        _watching[0] = None


def _on_import(module: Any) -> None:
    ctx = _watching[0]
    if ctx is None or not ctx.state.get("installed"):
        return
    try:
        patch_openai_llm(ctx, module)
    except Exception as exc:
        report_patch_failure(INTEGRATION, "patching llama_index.llms.openai", exc)
