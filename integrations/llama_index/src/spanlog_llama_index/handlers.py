"""LlamaIndex's instrumentation dispatcher, turned into spanlog spans.

``install`` adds one span handler and one event handler to LlamaIndex's root dispatcher, which sees every
span and event of every component (LLMs, embeddings, retrievers, postprocessors, synthesizers, query and chat
engines, tools, agents and workflows); ``uninstall`` removes exactly those two.

How a LlamaIndex span becomes a spanlog span:

- ``span_enter`` starts a spanlog span, detached, under the spanlog span of its LlamaIndex parent, else under
  the user's active span (a new trace if none). While the LlamaIndex span runs, its spanlog span is the active
  one, so spans of user code (``@spanlog.trace`` in a tool) and of other integrations nest under it; inside a
  model span (chat, completion, embedding) provider integrations are suppressed, so one call is one span.
- ``span_exit`` / ``span_drop`` record the result or the error. The spanlog span ends when its LlamaIndex span
  has exited AND every child has ended: a streamed answer's LLM span ends when the stream does (LlamaIndex
  says so with an end or exception event), and the engine spans above it stay open until then, so a
  streamed query is one well-formed tree however late the user reads it. A stream that is dropped unread
  ends its span when it is garbage-collected.
- events enrich the span they belong to: normalized chat attributes and token usage, the model, the
  reranker's settings, the time of the first token.

LlamaIndex's dispatcher swallows every exception of a handler, so each entry point here catches its own
failures and reports them with ``report_patch_failure`` (logged once, counted in ``spanlog.tracing.stats()``).
"""

from __future__ import annotations

import inspect
import threading
import weakref
from contextvars import ContextVar, Token
from typing import Any

from pydantic import PrivateAttr

from spanlog.entities import SpanType
from spanlog.plugins import (
    PROVIDER,
    AutologContext,
    NoOpSpan,
    start_detached_span,
    suppress_spans,
    use_span,
)
from spanlog.plugins.llm import FIRST_TOKEN_EVENT, set_llm_attributes

# listed in spanlog.plugins.__all__ but not imported there: take it from its module
from spanlog.plugins.patching import report_patch_failure
from spanlog_llama_index import extract
from spanlog_llama_index.extract import CLASSES, MODEL_TYPES

INTEGRATION = "llama_index"


class Entry:
    """One LlamaIndex span and its spanlog span, until the spanlog span has ended."""

    __slots__ = (
        "aliases",
        "finalizer",
        "has_outputs",
        "id_",
        "instance",
        "leave",
        "method",
        "model",
        "open_children",
        "parent",
        "pending_stream",
        "request",
        "span",
        "span_type",
        "state",
        "stream_result",
        "stream_text",
    )

    def __init__(self, id_: str, span: Any, span_type: str, instance: Any, method: str, parent: Any) -> None:
        self.id_ = id_
        self.span = span
        self.span_type = span_type
        self.instance = instance
        self.method = method
        self.parent: Entry | None = parent
        self.open_children = 0
        self.state = 0  # 0 running, 1 exited (LlamaIndex is done with it), 2 ended (spanlog span ended)
        self.pending_stream = False  # a model stream the user has not finished reading
        self.stream_result = False  # returned a streaming response: its outputs arrive with the stream
        self.stream_text: str | None = None
        self.has_outputs = False
        self.model = False  # a model call's start event arrived for it
        self.request: tuple[Any, ...] | None = None  # (model, provider, input messages, tools)
        self.finalizer: Any = None
        self.leave: tuple[Token[Any], Any, Any] | None = None  # undoes the activation, in its context
        self.aliases: list[str] = []  # ids of the LlamaIndex spans that stand for the same call


class Alias:
    """A LlamaIndex span that repeats its parent's model call (``OpenAILike.chat`` calling ``OpenAI.chat``):
    it gets no span of its own; its events go to the parent's."""

    __slots__ = ("target",)

    def __init__(self, target: Entry) -> None:
        self.target = target


_current: ContextVar[Entry | None] = ContextVar("spanlog_llama_index_entry", default=None)


def current_entry() -> Entry | None:
    """The entry whose LlamaIndex span runs in this context (None outside any)."""
    return _current.get()


class SpanHandler:
    """The span bookkeeping shared by the dispatcher's span handler and event handler."""

    def __init__(self, ctx: AutologContext) -> None:
        self.ctx = ctx
        self.entries: dict[str, Entry | Alias] = {}
        self.lock = threading.Lock()

    # -- spans -----------------------------------------------------------------------------------------------

    def enter(self, id_: str, bound_args: Any, instance: Any, parent_id: str | None) -> Entry | Alias | None:
        if not self.ctx.settings.log_traces:
            return None
        name, method = extract.split_id(id_)
        span_type = extract.span_type(instance, method)
        parent = self.entries.get(parent_id) if parent_id is not None else None
        if isinstance(parent, Alias):
            parent = parent.target
        if parent is not None and parent.state == 2:
            parent = None
        if (
            parent is not None
            and parent.instance is instance
            and parent.span_type == span_type
            and (span_type != SpanType.CHAIN or method == "_" + parent.method)
        ):
            # ``retrieve`` calling ``_retrieve``, ``acomplete`` calling ``complete``, ``OpenAILike.chat``
            # calling ``OpenAI.chat``, a tool's ``__call__`` calling ``call``: one call, one span
            alias = Alias(parent)
            self.entries[id_] = alias
            parent.aliases.append(id_)
            return alias
        if span_type == SpanType.TOOL:
            name = extract.tool_name(instance) or name
        args = extract.inputs(bound_args)
        if parent is None or _current.get() is parent:  # no parent, or it is the active span already
            span = start_detached_span(name, span_type, inputs=args)
        elif isinstance(parent.span, NoOpSpan):
            span = parent.span
        else:
            with use_span(parent.span):
                span = start_detached_span(name, span_type, inputs=args)
        entry = Entry(id_, span, span_type, instance, method, parent)
        with self.lock:
            if parent is not None:
                parent.open_children += 1
            self.entries[id_] = entry
        activation = use_span(span)
        activation.__enter__()
        suppression = None
        if span_type in MODEL_TYPES:
            suppression = suppress_spans(PROVIDER)
            suppression.__enter__()
        entry.leave = (_current.set(entry), activation, suppression)
        return entry

    def exit(self, id_: str, result: Any, err: BaseException | None) -> Entry | Alias | None:
        item = self.entries.get(id_)
        if item is None or isinstance(item, Alias):
            return item
        entry = item
        _leave(entry)
        if entry.state != 0:
            return entry
        try:
            self._record_exit(entry, result, err)
        finally:  # even when recording failed, the span ends (the failure is reported by the caller)
            entry.state = 1
            self.settle(entry)
        return entry

    def _record_exit(self, entry: Entry, result: Any, err: BaseException | None) -> None:
        span = entry.span
        if err is not None:
            span.record_exception(err)
        elif entry.model and (inspect.isgenerator(result) or inspect.isasyncgen(result)):
            # a model stream: LlamaIndex ends its span now, the call ends when the stream does
            entry.pending_stream = True
            entry.finalizer = weakref.finalize(result, self.stream_ended, entry, None)
        elif isinstance(result, CLASSES.token_streams):
            self._wrap_token_stream(entry, result)
        elif extract.is_streaming_result(result) or inspect.isgenerator(result) or inspect.isasyncgen(result):
            entry.stream_result = True  # its outputs are the text its stream produced
        elif not entry.has_outputs:
            span.set_outputs(extract.outputs(result))

    def _wrap_token_stream(self, entry: Entry, response: Any) -> None:
        """A streaming query response: its generator often calls the LLM only when read, in the reader's
        context. Wrap it so each step runs under this span (for spanlog and for LlamaIndex's own parent
        links), and end this span when the reading ends. The innermost span returning it wraps it."""
        gen = response.response_gen
        if gen is None or getattr(response, "_spanlog_wrapped", False):
            entry.stream_result = True
            return
        if inspect.isasyncgen(gen):
            proxy: Any = _async_token_steps(self, entry, gen)
        elif inspect.isgenerator(gen) or hasattr(gen, "__next__"):
            proxy = _token_steps(self, entry, gen)
        else:
            entry.stream_result = True
            return
        response.response_gen = proxy
        response._spanlog_wrapped = True
        entry.pending_stream = entry.stream_result = True
        entry.finalizer = weakref.finalize(proxy, self.stream_ended, entry, None)

    def stream_ended(self, entry: Entry, exc: BaseException | None) -> None:
        """A model stream was exhausted, failed, closed, or dropped unread: end its span (once)."""
        try:
            with self.lock:
                if not entry.pending_stream:
                    return
                entry.pending_stream = False
                finalizer, entry.finalizer = entry.finalizer, None
                ancestor = entry.parent
                # the engines above show the streamed answer; the text a response stream yielded wins
                # over the text of the model stream inside it
                authoritative = entry.stream_result
                while ancestor is not None:
                    if ancestor.stream_result and (authoritative or ancestor.stream_text is None):
                        ancestor.stream_text = entry.stream_text
                    ancestor = ancestor.parent
            if finalizer is not None:
                finalizer.detach()
            if exc is not None and not isinstance(exc, GeneratorExit):
                entry.span.record_exception(exc)
            self.settle(entry)
        except Exception as failure:
            report_patch_failure(INTEGRATION, "ending a stream's span", failure)

    def settle(self, entry: Entry) -> None:
        """End ``entry``'s span if it is done, then each ancestor that this leaves done."""
        done: list[Entry] = []
        with self.lock:
            current: Entry | None = entry
            while (
                current is not None
                and current.state == 1
                and not current.pending_stream
                and current.open_children == 0
            ):
                current.state = 2
                done.append(current)
                self.entries.pop(current.id_, None)
                current = current.parent
                if current is not None:
                    current.open_children -= 1
        for finished in done:
            if finished.stream_result and finished.stream_text is not None:
                finished.span.set_outputs(finished.stream_text)
            finished.span.end()
            for alias in finished.aliases:
                self.entries.pop(alias, None)

    # -- events ----------------------------------------------------------------------------------------------

    def event(self, event: Any) -> None:
        span_id = event.span_id
        if span_id is None:
            return
        item = self.entries.get(span_id)
        if item is None:
            return
        entry = item.target if isinstance(item, Alias) else item
        handler = _EVENTS.get(type(event).__name__)
        if handler is not None and entry.state != 2:
            handler(self, entry, event)


def _token_steps(handler: SpanHandler, entry: Entry, gen: Any) -> Any:
    from llama_index_instrumentation.span import active_span_id

    pieces: list[str] = []
    failure: BaseException | None = None
    try:
        while True:
            token = active_span_id.set(entry.id_)
            try:
                with use_span(entry.span):
                    try:
                        item = next(gen)
                    except StopIteration:
                        return
            finally:
                active_span_id.reset(token)
            if isinstance(item, str):
                pieces.append(item)
            yield item
    except BaseException as exc:
        failure = exc
        raise
    finally:
        if entry.stream_text is None or pieces:
            entry.stream_text = "".join(pieces)
        close = getattr(gen, "close", None)
        if close is not None:
            close()
        handler.stream_ended(entry, failure)


async def _async_token_steps(handler: SpanHandler, entry: Entry, gen: Any) -> Any:
    from llama_index_instrumentation.span import active_span_id

    pieces: list[str] = []
    failure: BaseException | None = None
    try:
        while True:
            token = active_span_id.set(entry.id_)
            try:
                with use_span(entry.span):
                    try:
                        item = await gen.__anext__()
                    except StopAsyncIteration:
                        return
            finally:
                active_span_id.reset(token)
            if isinstance(item, str):
                pieces.append(item)
            yield item
    except BaseException as exc:
        failure = exc
        raise
    finally:
        if entry.stream_text is None or pieces:
            entry.stream_text = "".join(pieces)
        aclose = getattr(gen, "aclose", None)
        if aclose is not None:
            await aclose()
        handler.stream_ended(entry, failure)


def _leave(entry: Entry) -> None:
    """Undo what ``enter`` made active, when the span exits in the context it entered (LlamaIndex exits
    spans of functions returning a Future from a callback in another context: nothing to undo there)."""
    leave, entry.leave = entry.leave, None
    if leave is None:
        return
    token, activation, suppression = leave
    try:
        _current.reset(token)
    except (ValueError, RuntimeError):
        return
    if suppression is not None:
        suppression.__exit__(None, None, None)
    activation.__exit__(None, None, None)


# -- events, by class name ---------------------------------------------------------------------------------


def _chat_start(handler: SpanHandler, entry: Entry, event: Any) -> None:
    model, provider = extract.model_and_provider(event.model_dict, entry.instance)
    sent = extract.messages(event.messages)
    offered = extract.tools(event.additional_kwargs)
    entry.model = True
    entry.request = (model, provider, sent, offered)
    set_llm_attributes(entry.span, model=model, provider=provider, messages=sent, tools=offered)


def _completion_start(handler: SpanHandler, entry: Entry, event: Any) -> None:
    model, provider = extract.model_and_provider(event.model_dict, entry.instance)
    entry.model = True
    entry.request = (model, provider, None, None)
    set_llm_attributes(entry.span, model=model, provider=provider)


def _in_progress(handler: SpanHandler, entry: Entry, event: Any) -> None:
    if entry.stream_text is None:
        entry.stream_text = ""
        entry.span.add_event(FIRST_TOKEN_EVENT)


def _chat_end(handler: SpanHandler, entry: Entry, event: Any) -> None:
    response = event.response
    if response is not None:
        model, provider, sent, offered = entry.request or (None, None, None, None)
        reply = extract.message(response.message)
        answered_by, finish, usage = extract.response_details(response)
        set_llm_attributes(
            entry.span,
            model=answered_by or model,
            provider=provider,
            messages=[*(sent if sent is not None else extract.messages(event.messages)), reply],
            tools=offered,
            tool_calls=reply.get("tool_calls"),
            finish_reason=finish,
            usage=usage,
        )
        entry.span.set_outputs(reply)
        entry.has_outputs = True
        entry.stream_text = reply["content"]
    if entry.pending_stream:
        handler.stream_ended(entry, None)


def _completion_end(handler: SpanHandler, entry: Entry, event: Any) -> None:
    response = event.response
    if response is not None:
        model, provider, _, _ = entry.request or (None, None, None, None)
        answered_by, finish, usage = extract.response_details(response)
        set_llm_attributes(
            entry.span, model=answered_by or model, provider=provider, finish_reason=finish, usage=usage
        )
        entry.span.set_outputs(response.text)
        entry.has_outputs = True
        entry.stream_text = response.text
    if entry.pending_stream:
        handler.stream_ended(entry, None)


def _exception(handler: SpanHandler, entry: Entry, event: Any) -> None:
    if entry.pending_stream:  # the stream failed, or was closed (GeneratorExit) before its end
        handler.stream_ended(entry, event.exception)


def _embedding_start(handler: SpanHandler, entry: Entry, event: Any) -> None:
    model, provider = extract.model_and_provider(event.model_dict, entry.instance)
    set_llm_attributes(entry.span, model=model, provider=provider)


def _embedding_end(handler: SpanHandler, entry: Entry, event: Any) -> None:
    vectors = event.embeddings or []
    # the vectors themselves are large and say little to a reader: their number and size do
    entry.span.set_outputs({"count": len(vectors), "dimensions": len(vectors[0]) if vectors else 0})
    entry.has_outputs = True


def _rerank_start(handler: SpanHandler, entry: Entry, event: Any) -> None:
    entry.span.set_attributes({"reranker.model": event.model_name, "reranker.top_n": event.top_n})


def _agent_tool_call(handler: SpanHandler, entry: Entry, event: Any) -> None:
    entry.span.add_event("tool_call", {"tool": event.tool.name, "arguments": event.arguments})


_EVENTS = {
    "LLMChatStartEvent": _chat_start,
    "LLMCompletionStartEvent": _completion_start,
    "LLMChatInProgressEvent": _in_progress,
    "LLMCompletionInProgressEvent": _in_progress,
    "LLMChatEndEvent": _chat_end,
    "LLMCompletionEndEvent": _completion_end,
    "ExceptionEvent": _exception,
    "EmbeddingStartEvent": _embedding_start,
    "SparseEmbeddingStartEvent": _embedding_start,
    "EmbeddingEndEvent": _embedding_end,
    "SparseEmbeddingEndEvent": _embedding_end,
    "ReRankStartEvent": _rerank_start,
    "AgentToolCallEvent": _agent_tool_call,
}


# -- the two handlers the dispatcher calls -------------------------------------------------------------------


_handler_types: tuple[type, type] | None = None


def _handler_classes() -> tuple[type, type]:
    """The two handler classes, defined once (they subclass LlamaIndex's, imported on first autolog)."""
    global _handler_types
    if _handler_types is None:
        _handler_types = _define_handler_classes()
    return _handler_types


def _define_handler_classes() -> tuple[type, type]:
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

    class SpanlogSpanHandler(BaseSpanHandler[Any]):  # type: ignore[type-var]
        """Opens and ends spanlog spans as LlamaIndex enters and leaves its spans."""

        _spans: SpanHandler = PrivateAttr()

        @classmethod
        def class_name(cls) -> str:
            return "SpanlogSpanHandler"

        def new_span(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: Any | None = None,
            parent_span_id: str | None = None,
            tags: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> Any:
            try:
                return self._spans.enter(id_, bound_args, instance, parent_span_id)
            except Exception as exc:
                report_patch_failure(INTEGRATION, "starting a span", exc)
                return None

        def prepare_to_exit_span(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: Any | None = None,
            result: Any | None = None,
            **kwargs: Any,
        ) -> Any:
            try:
                return self._spans.exit(id_, result, None)
            except Exception as exc:
                report_patch_failure(INTEGRATION, "ending a span", exc)
                return None

        def prepare_to_drop_span(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: Any | None = None,
            err: BaseException | None = None,
            **kwargs: Any,
        ) -> Any:
            try:
                return self._spans.exit(id_, None, err)
            except Exception as exc:
                report_patch_failure(INTEGRATION, "ending a failed span", exc)
                return None

        # The base class's span_enter / span_exit / span_drop call the three methods above and keep
        # ``open_spans`` under a lock; these do the same without the lock (single dict operations are atomic)
        # and without the base's unguarded ``del`` for a span opened before autolog() was turned on.

        def span_enter(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: Any | None = None,
            parent_id: str | None = None,
            tags: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            span = self.new_span(id_, bound_args, instance, parent_id, tags)
            if span is not None:
                self.open_spans[id_] = span

        def span_exit(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: Any | None = None,
            result: Any | None = None,
            **kwargs: Any,
        ) -> None:
            if id_ in self.open_spans and self.prepare_to_exit_span(id_, bound_args, instance, result):
                self.open_spans.pop(id_, None)

        def span_drop(
            self,
            id_: str,
            bound_args: inspect.BoundArguments,
            instance: Any | None = None,
            err: BaseException | None = None,
            **kwargs: Any,
        ) -> None:
            if id_ in self.open_spans and self.prepare_to_drop_span(id_, bound_args, instance, err):
                self.open_spans.pop(id_, None)

    class SpanlogEventHandler(BaseEventHandler):
        """Adds what LlamaIndex's events tell (messages, usage, model, first token) to their spans."""

        _spans: SpanHandler = PrivateAttr()

        @classmethod
        def class_name(cls) -> str:
            return "SpanlogEventHandler"

        def handle(self, event: Any, **kwargs: Any) -> None:
            try:
                self._spans.event(event)
            except Exception as exc:
                report_patch_failure(INTEGRATION, f"handling {type(event).__name__}", exc)

    return SpanlogSpanHandler, SpanlogEventHandler


def _load_classes() -> None:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.base.llms.base import BaseLLM
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.core.base.response.schema import (
        AsyncStreamingResponse,
        PydanticResponse,
        Response,
        StreamingResponse,
    )
    from llama_index.core.chat_engine.types import AgentChatResponse, StreamingAgentChatResponse
    from llama_index.core.node_parser.interface import NodeParser
    from llama_index.core.postprocessor.types import BaseNodePostprocessor
    from llama_index.core.prompts.base import BasePromptTemplate
    from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
    from llama_index.core.tools.types import BaseTool

    agents: list[type] = []
    try:
        from workflows import Workflow

        agents.append(Workflow)
    except ImportError:  # pragma: no cover - llama-index-core 0.14 depends on llama-index-workflows
        pass

    CLASSES.llm = (BaseLLM,)
    CLASSES.embedding = (BaseEmbedding,)
    CLASSES.retriever = (BaseRetriever,)
    CLASSES.postprocessor = (BaseNodePostprocessor,)
    CLASSES.tool = (BaseTool,)
    CLASSES.agent = tuple(agents)
    CLASSES.parser = (NodeParser,)
    CLASSES.node_with_score = (NodeWithScore,)
    CLASSES.base_node = (BaseNode,)
    CLASSES.query_bundle = (QueryBundle,)
    CLASSES.prompt = (BasePromptTemplate,)
    CLASSES.response = (Response, PydanticResponse, AgentChatResponse)
    CLASSES.streaming = (StreamingResponse, AsyncStreamingResponse, StreamingAgentChatResponse)
    CLASSES.token_streams = (StreamingResponse, AsyncStreamingResponse)
    CLASSES.chat_message = (ChatMessage,)


def install(ctx: AutologContext) -> None:
    """Add spanlog's span and event handlers to LlamaIndex's root dispatcher (undone by ``uninstall``)."""
    from llama_index.core.instrumentation import get_dispatcher

    from spanlog_llama_index import streams

    _load_classes()
    span_class, event_class = _handler_classes()
    spans = SpanHandler(ctx)
    span_handler = span_class()
    span_handler._spans = spans
    event_handler = event_class()
    event_handler._spans = spans
    dispatcher = get_dispatcher()
    dispatcher.add_span_handler(span_handler)
    dispatcher.add_event_handler(event_handler)
    ctx.state["handlers"] = (dispatcher, span_handler, event_handler)
    ctx.state["installed"] = True
    streams.watch_openai_llm(ctx)


def uninstall(ctx: AutologContext) -> None:
    """Remove exactly the handlers ``install`` added; the patches of ``streams`` are undone by the core."""
    from spanlog_llama_index import streams

    ctx.state["installed"] = False
    streams.unwatch_openai_llm(ctx)
    handlers = ctx.state.pop("handlers", None)
    if handlers is None:
        return
    dispatcher, span_handler, event_handler = handlers
    dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not span_handler]
    dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not event_handler]
