"""What ``spanlog.langchain.autolog()`` installs, and how ``autolog(disable=True)`` takes it away.

1. The callback handler, through LangChain's configure hooks (``register_configure_hook``): every callback
   manager LangChain configures for a run, sync or async, gets the one spanlog handler, inherited by the
   run's children, and only once (LangChain skips a hook handler already present). The hook reads a
   process-wide slot, not a context variable, so runs started in any thread are traced; disabling empties
   the slot and removes the hook.
2. ``langchain_core.runnables.config._set_config_context``, which LangChain runs inside the fresh context a
   runnable's body (a chain step, a lambda, a tool) runs in: the run's span is made active there, so spans
   that the body starts by other means (``@spanlog.trace`` functions, other integrations) nest under it.
   The context is thrown away with the body, so nothing needs undoing.
3. The model calls of chat models and LLMs (``_generate_with_cache``, ``_generate_helper``, ``stream`` and
   their async forms): they run with the model run's span active and with provider spans suppressed, so a
   ``ChatOpenAI`` call traced by both this and the OpenAI integration is one CHAT_MODEL span.
4. Embeddings and document compressors, which LangChain runs without callbacks: the methods of every
   subclass (existing ones now, later ones as they are defined) become EMBEDDING and RERANKER spans.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from spanlog.entities import SpanType
from spanlog.plugins import (
    PROVIDER,
    AutologContext,
    NoOpSpan,
    activate_span,
    report_patch_failure,
    start_detached_span,
    suppress_spans,
    use_span,
)
from spanlog_langchain import providers, render
from spanlog_langchain.handler import SpanlogCallbackHandler

_logger = logging.getLogger("spanlog.langchain")

_MODEL_LOGGING_OPTIONS = ("log_models", "log_input_examples", "log_model_signatures", "log_datasets")
_model_logging_noted = False

# (method, span type) of classes that LangChain runs without callbacks
_EMBEDDING_METHODS = ("embed_documents", "embed_query", "aembed_documents", "aembed_query")
_COMPRESSOR_METHODS = ("compress_documents", "acompress_documents")

# True inside a traced embedding / compressor call: a method that calls another (the default async
# methods run the sync ones) makes one span
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("spanlog_langchain_inside", default=False)


class HandlerSlot:
    """What LangChain's configure hook reads: ``get()`` returns the handler while autolog is on.

    It stands where LangChain expects a context variable; unlike one, its value is the same in every thread
    and context, so a run started in a thread the user made is traced too.
    """

    __slots__ = ("ctx", "handler")

    def __init__(self) -> None:
        self.handler: SpanlogCallbackHandler | None = None
        self.ctx: AutologContext | None = None

    def get(self) -> SpanlogCallbackHandler | None:
        """The handler to add to a run's callback manager, or None when autolog is off (or is on with
        ``log_traces=False``)."""
        ctx = self.ctx
        return self.handler if ctx is not None and ctx.settings.log_traces else None


SLOT = HandlerSlot()


def current_handler() -> SpanlogCallbackHandler | None:
    """The handler installed by autolog, or None."""
    return SLOT.handler


def patch_langchain(ctx: AutologContext) -> None:
    """Install the handler hook and the patches (see the module doc)."""
    import langchain_core  # noqa: F401  (the integration's target: fail here if it is missing)
    from langchain_core.tracers import context as tracer_context

    render.load_types()
    _note_model_logging(ctx)
    handler = SpanlogCallbackHandler(ctx.settings)
    SLOT.handler, SLOT.ctx = handler, ctx
    ctx.state["handler"] = handler
    if not any(hook[0] is SLOT for hook in tracer_context._configure_hooks):
        tracer_context.register_configure_hook(SLOT, inheritable=True)  # type: ignore[arg-type]

    from langchain_core.runnables import config as runnable_config

    ctx.patch(runnable_config, "_set_config_context", _activate_run_span, is_async=False)
    _patch_models(ctx)
    _patch_subclasses(ctx)


def unpatch_langchain(ctx: AutologContext) -> None:
    """Remove the handler hook (the patches are undone by ``ctx``)."""
    SLOT.handler = SLOT.ctx = None
    try:
        from langchain_core.tracers import context as tracer_context

        hooks = tracer_context._configure_hooks
        hooks[:] = [hook for hook in hooks if hook[0] is not SLOT]
    except Exception as exc:  # an inert hook is harmless: SLOT.get() returns None now
        report_patch_failure("langchain", "removing the configure hook", exc)
    for owner, original in ctx.state.pop("init_subclass", ()):
        if original is None:
            try:
                del owner.__init_subclass__
            except AttributeError:
                pass
        else:
            owner.__init_subclass__ = original


def _note_model_logging(ctx: AutologContext) -> None:
    """The guide's ``autolog(log_models=True, log_input_examples=True)``: accepted, and said once to do
    nothing, since logging models is outside spanlog's scope."""
    global _model_logging_noted
    asked = [name for name in _MODEL_LOGGING_OPTIONS if ctx.options.get(name)]
    if asked and not _model_logging_noted:
        _model_logging_noted = True
        (_logger.debug if ctx.settings.silent else _logger.warning)(
            "spanlog.langchain: %s accepted and ignored: spanlog traces runs and does not log models; "
            "every run is traced",
            ", ".join(f"{name}=True" for name in asked),
        )


# -- 2. the run's span is active inside its body ---------------------------------------------------------


def _activate_run_span(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    result = call(*args, **kwargs)
    handler = SLOT.handler
    config = args[0] if args else kwargs.get("config")
    callbacks = config.get("callbacks") if handler is not None and isinstance(config, dict) else None
    parent_run_id = getattr(callbacks, "parent_run_id", None)
    if parent_run_id is not None:
        run = handler.run_span(parent_run_id)  # type: ignore[union-attr]
        if run is not None:
            # this runs in the copy of the context that LangChain made for the run's body and discards
            # after it: the activation ends with that context, no token to reset
            activate_span(run.span)
    return result


# -- 3. model calls ----------------------------------------------------------------------------------------


def _model_run(model: Any, run_manager: Any) -> Any:
    """The traced run of a model call, with its provider refined from the model's base URL."""
    handler = SLOT.handler
    run = handler.run_span(getattr(run_manager, "run_id", None)) if handler is not None else None
    if run is not None:
        run.provider = providers.provider_of(model) or run.provider
    return run


def _chat_generate(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    run_manager = kwargs.get("run_manager", args[2] if len(args) > 2 else None)
    run = _model_run(instance, run_manager)
    if run is None:
        return call(*args, **kwargs)
    with use_span(run.span), suppress_spans(PROVIDER):
        return call(*args, **kwargs)


async def _achat_generate(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    run_manager = kwargs.get("run_manager", args[2] if len(args) > 2 else None)
    run = _model_run(instance, run_manager)
    if run is None:
        return await call(*args, **kwargs)
    with use_span(run.span), suppress_spans(PROVIDER):
        return await call(*args, **kwargs)


def _llm_runs(instance: Any, args: Any, kwargs: Any) -> Any:
    managers = kwargs.get("run_managers", args[2] if len(args) > 2 else None) or ()
    runs = [_model_run(instance, manager) for manager in managers]
    return next((run for run in runs if run is not None), None)


def _llm_generate(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    run = _llm_runs(instance, args, kwargs)
    if run is None:
        return call(*args, **kwargs)
    with use_span(run.span), suppress_spans(PROVIDER):
        return call(*args, **kwargs)


async def _allm_generate(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    run = _llm_runs(instance, args, kwargs)
    if run is None:
        return await call(*args, **kwargs)
    with use_span(run.span), suppress_spans(PROVIDER):
        return await call(*args, **kwargs)


def _suppressed_stream(stream: Iterator[Any], model: Any) -> Iterator[Any]:
    """The model's stream, each step run with provider spans suppressed and the model known to the
    handler (its run starts inside the first step); nothing else changes."""
    try:
        while True:
            token = providers.CURRENT_MODEL.set(model)
            try:
                with suppress_spans(PROVIDER):
                    item = next(stream)
            except StopIteration:
                return
            finally:
                providers.CURRENT_MODEL.reset(token)
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


async def _asuppressed_stream(stream: AsyncIterator[Any], model: Any) -> AsyncIterator[Any]:
    try:
        while True:
            token = providers.CURRENT_MODEL.set(model)
            try:
                with suppress_spans(PROVIDER):
                    item = await stream.__anext__()
            except StopAsyncIteration:
                return
            finally:
                providers.CURRENT_MODEL.reset(token)
            yield item
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _stream(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return _suppressed_stream(call(*args, **kwargs), instance)


def _astream(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return _asuppressed_stream(call(*args, **kwargs), instance)


def _patch_models(ctx: AutologContext) -> None:
    from langchain_core.language_models import chat_models, llms

    chat, llm = chat_models.BaseChatModel, llms.BaseLLM
    ctx.patch(chat, "_generate_with_cache", _chat_generate, is_async=False)
    ctx.patch(chat, "_agenerate_with_cache", _achat_generate, is_async=True)
    ctx.patch(llm, "_generate_helper", _llm_generate, is_async=False)
    ctx.patch(llm, "_agenerate_helper", _allm_generate, is_async=True)
    for owner in (chat, llm):
        ctx.patch(owner, "stream", _stream, is_async=False)
        ctx.patch(owner, "astream", _astream, is_async=False)  # an async generator function


# -- 4. embeddings and compressors -----------------------------------------------------------------------


def _input_of(method: str, args: Any, kwargs: Any) -> Any:
    if method.endswith("embed_documents"):
        texts = kwargs.get("texts", args[0] if args else None)
        return {"texts": list(texts) if texts is not None else None}
    if method.endswith("embed_query"):
        return {"text": kwargs.get("text", args[0] if args else None)}
    documents = kwargs.get("documents", args[0] if args else None)
    query = kwargs.get("query", args[1] if len(args) > 1 else None)
    return {"query": query, "documents": list(documents) if documents is not None else None}


def _output_of(method: str, result: Any) -> Any:
    if method.endswith("embed_documents"):
        return {"count": len(result), "dimensions": len(result[0]) if result else 0}
    if method.endswith("embed_query"):
        return {"dimensions": len(result)}
    return list(result)


def _embedding_attributes(instance: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    model = getattr(instance, "model", None) or getattr(instance, "model_name", None)
    if isinstance(model, str):
        attributes["spanlog.llm.model"] = model
    provider = providers.provider_of(instance)
    if provider is not None:
        attributes["spanlog.llm.provider"] = provider
    return attributes


def _traced_method(method: str, span_type: str, is_async: bool) -> Callable[..., Any]:
    """The wrapper of an embeddings / compressor method: a span of ``span_type`` around the call, active
    inside it, with provider spans suppressed (the span already describes the provider call)."""

    def start(instance: Any, args: Any, kwargs: Any) -> Any:
        name = f"{type(instance).__name__}.{method}"
        attributes = _embedding_attributes(instance) if span_type == SpanType.EMBEDDING else None
        return start_detached_span(name, span_type, render.plain(_input_of(method, args, kwargs)), attributes)

    def finish(span: Any, result: Any) -> None:
        span.set_outputs(render.plain(_output_of(method, result)))
        span.end()

    def failed(span: Any, exc: BaseException) -> None:
        span.record_exception(exc)
        span.end()

    if is_async:

        async def async_wrapper(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            if _inside.get() or SLOT.handler is None:
                return await call(*args, **kwargs)
            span = start(instance, args, kwargs)
            if isinstance(span, NoOpSpan):
                return await call(*args, **kwargs)
            token = _inside.set(True)
            try:
                with use_span(span), suppress_spans(PROVIDER):
                    result = await call(*args, **kwargs)
            except BaseException as exc:
                failed(span, exc)
                raise
            finally:
                _inside.reset(token)
            finish(span, result)
            return result

        return async_wrapper

    def wrapper(call: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if _inside.get() or SLOT.handler is None:
            return call(*args, **kwargs)
        span = start(instance, args, kwargs)
        if isinstance(span, NoOpSpan):
            return call(*args, **kwargs)
        token = _inside.set(True)
        try:
            with use_span(span), suppress_spans(PROVIDER):
                result = call(*args, **kwargs)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            _inside.reset(token)
        finish(span, result)
        return result

    return wrapper


def _patch_class(ctx: AutologContext, cls: type, methods: tuple[str, ...], span_type: str) -> None:
    """Patch the methods ``cls`` defines itself (inherited ones are patched on the class defining them)."""
    import inspect

    for method in methods:
        function = cls.__dict__.get(method)
        if function is None or getattr(function, "__isabstractmethod__", False):
            continue
        is_async = inspect.iscoroutinefunction(inspect.unwrap(function))
        ctx.patch(cls, method, _traced_method(method, span_type, is_async), is_async=is_async)


def _all_subclasses(base: type) -> list[type]:
    seen: list[type] = []
    pending = [base]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                pending.append(sub)
    return seen


def _patch_subclasses(ctx: AutologContext) -> None:
    from langchain_core.documents import BaseDocumentCompressor
    from langchain_core.embeddings import Embeddings

    ctx.state["init_subclass"] = []
    for base, methods, span_type in (
        (Embeddings, _EMBEDDING_METHODS, SpanType.EMBEDDING),
        (BaseDocumentCompressor, _COMPRESSOR_METHODS, SpanType.RERANKER),
    ):
        for cls in [base, *_all_subclasses(base)]:
            _patch_class(ctx, cls, methods, span_type)
        _hook_new_subclasses(ctx, base, methods, span_type)


def _hook_new_subclasses(ctx: AutologContext, base: type, methods: tuple[str, ...], span_type: str) -> None:
    """Patch subclasses of ``base`` defined from now on (``OpenAIEmbeddings`` imported after autolog)."""
    original = base.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: type, **kwargs: Any) -> None:
        if original is not None:
            original.__get__(None, cls)(**kwargs)
        else:
            super(base, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
        try:
            if SLOT.handler is not None:
                _patch_class(ctx, cls, methods, span_type)
        except Exception as exc:
            report_patch_failure("langchain", f"patching {cls.__qualname__}", exc)

    base.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment,method-assign]
    ctx.state["init_subclass"].append((base, original))
