"""What ``spanlog.openai.autolog()`` patches: methods of the SDK's resource classes, so that every client,
created before or after autolog, is traced. ``autolog(disable=True)`` puts the original functions back.

Methods a given openai version lacks (``responses`` before 1.66, ``chat.completions.parse`` before 1.92,
``beta.chat.completions.parse`` after it) are skipped.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from spanlog.plugins import PROVIDER, AutologContext
from spanlog_openai import calls

# (module, class, method, what the span records)
TARGETS: tuple[tuple[str, str, str, calls.Api], ...] = (
    ("openai.resources.chat.completions", "Completions", "create", calls.CHAT_CREATE),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", calls.CHAT_CREATE),
    ("openai.resources.chat.completions", "Completions", "parse", calls.CHAT_PARSE),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", calls.CHAT_PARSE),
    ("openai.resources.beta.chat.completions", "Completions", "parse", calls.CHAT_PARSE),
    ("openai.resources.beta.chat.completions", "AsyncCompletions", "parse", calls.CHAT_PARSE),
    ("openai.resources.completions", "Completions", "create", calls.COMPLETIONS_CREATE),
    ("openai.resources.completions", "AsyncCompletions", "create", calls.COMPLETIONS_CREATE),
    ("openai.resources.embeddings", "Embeddings", "create", calls.EMBEDDINGS_CREATE),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", calls.EMBEDDINGS_CREATE),
    ("openai.resources.responses", "Responses", "create", calls.RESPONSES_CREATE),
    ("openai.resources.responses", "AsyncResponses", "create", calls.RESPONSES_CREATE),
    ("openai.resources.responses", "Responses", "parse", calls.RESPONSES_PARSE),
    ("openai.resources.responses", "AsyncResponses", "parse", calls.RESPONSES_PARSE),
)

# The `.stream()` helpers read a `create(stream=True)` stream and close the HTTP response directly when their
# `with` block ends; patching their `close` ends the span there too.
HELPER_STREAMS: tuple[tuple[str, str], ...] = (
    ("openai.lib.streaming.chat", "ChatCompletionStream"),
    ("openai.lib.streaming.chat", "AsyncChatCompletionStream"),
    ("openai.lib.streaming.responses", "ResponseStream"),
    ("openai.lib.streaming.responses", "AsyncResponseStream"),
)


def _find(module_name: str, class_name: str) -> Any:
    """``module.class``, or None when this openai version has no such module or class."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, class_name, None)


def is_coroutine_method(method: Any) -> bool:
    """True for ``async def`` methods, also behind the SDK's sync decorators (``required_args`` wraps
    ``AsyncCompletions.create`` in a plain function that returns the coroutine)."""
    return inspect.iscoroutinefunction(inspect.unwrap(method))


def patch_openai(ctx: AutologContext) -> None:
    """Patch every traced method that the installed openai has."""
    import openai

    calls.SDK.models = (openai.BaseModel,)
    calls.SDK.streams = (openai.Stream, openai.AsyncStream)
    calls.SDK.iterate = (openai.Stream.__iter__, openai.AsyncStream.__aiter__)
    for module_name, class_name, method_name, api in TARGETS:
        owner = _find(module_name, class_name)
        method = getattr(owner, method_name, None) if owner is not None else None
        if method is None:
            continue
        if is_coroutine_method(method):
            ctx.patch(owner, method_name, calls.async_wrapper(api, ctx), category=PROVIDER, is_async=True)
        else:
            ctx.patch(owner, method_name, calls.sync_wrapper(api, ctx), category=PROVIDER, is_async=False)
    for module_name, class_name in HELPER_STREAMS:
        owner = _find(module_name, class_name)
        close = getattr(owner, "close", None) if owner is not None else None
        if close is None:
            continue
        if is_coroutine_method(close):
            ctx.patch(owner, "close", calls.aclose_helper_stream, is_async=True)
        else:
            ctx.patch(owner, "close", calls.close_helper_stream, is_async=False)
