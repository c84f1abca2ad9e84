"""The callback handler that turns LangChain runs into spans.

LangChain reports every run of a runnable (chain, prompt, chat model, LLM, tool, retriever, parser, graph,
graph node) to the callback handlers of its run tree: a ``*_start`` with the run's id and its parent's id,
then one ``*_end`` or ``*_error``. The handler starts a span per run, detached (its lifetime is the run's,
not a Python block's) and parented by the parent run's span; a run without a traced parent nests under the
span active where it started (the user's ``@spanlog.trace`` function, say), or starts a trace.

The handler runs inline (``run_inline``), in the thread and context of the run, also under the async
callback manager, which would otherwise hand sync handlers to a thread pool. Each method is guarded: a
failure inside it is logged once and counted, never raised into LangChain (under ``SPANLOG_TESTING=1`` it
raises, so tests see it).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

import spanlog
from spanlog.entities import SpanType
from spanlog.plugins import (
    NoOpSpan,
    activate_span,
    current_span,
    deactivate_span,
    report_patch_failure,
    start_detached_span,
    testing_mode,
)
from spanlog.plugins.llm import FIRST_TOKEN_EVENT, set_llm_attributes
from spanlog_langchain import providers, render

try:  # the handler class must derive from LangChain's; this module is imported only when patching
    from langchain_core.callbacks import BaseCallbackHandler
except ImportError:  # pragma: no cover - patch.py imports langchain_core first
    BaseCallbackHandler = object  # type: ignore[assignment,misc]

_logger = logging.getLogger("spanlog.langchain")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MAX_TOKEN_EVENTS = 100
"""Streamed tokens recorded as ``new_token`` events per model run, unless ``autolog(max_token_events=N)``."""

TOKEN_EVENT = "new_token"
RETRY_EVENT = "retry"
_RETRY_TAG = "retry:attempt:"

# metadata LangChain and LangGraph add to runs themselves: attributes, but not trace tags
_INTERNAL_METADATA_PREFIXES = ("ls_", "langgraph_", "lc_", "checkpoint_", "__")


def _guarded(method: F) -> F:
    """Run a callback method; a failure inside it is spanlog's: report it, return None."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            report_patch_failure("langchain", f"callback {method.__name__}", exc)
            return None

    return guarded  # type: ignore[return-value]


class RunSpan:
    """The span of one LangChain run, and what its end needs from its start."""

    __slots__ = (
        "first_token",
        "last_error",
        "messages",
        "model",
        "parent",
        "provider",
        "span",
        "token",
        "token_events",
        "tools",
    )

    def __init__(self, span: Any, parent: RunSpan | None = None) -> None:
        self.span = span
        self.parent = parent
        self.last_error: BaseException | None = None  # of the latest child that failed
        self.first_token = False
        self.token: Any = None  # of the span's activation, for runs active from start to end
        self.token_events = 0
        self.messages: list[Any] | None = None
        self.tools: list[Any] | None = None
        self.model: Any = None
        self.provider: Any = None


def _name(serialized: Any, kwargs: Mapping[str, Any], default: str) -> str:
    """A run's name as LangChain shows it: ``run_name`` / the runnable's name, else its class."""
    name = kwargs.get("name")
    if name:
        return str(name)
    if isinstance(serialized, Mapping):
        if serialized.get("name"):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, (list, tuple)) and ids:
            return str(ids[-1])
    return default


def _chain_type(serialized: Any, name: str, kwargs: Mapping[str, Any]) -> str:
    """The span type of a chain run: parsers, graphs and agents have their own."""
    if kwargs.get("run_type") == "parser":
        return SpanType.PARSER
    ids = serialized.get("id") if isinstance(serialized, Mapping) else None
    if isinstance(ids, (list, tuple)) and "output_parsers" in ids:
        return SpanType.PARSER
    metadata = kwargs.get("metadata") or {}
    if "langgraph_node" in metadata:
        return SpanType.CHAIN  # a LangGraph node, or a runnable inside one (a routing function, ...)
    if metadata.get("ls_integration") == "langgraph":
        return SpanType.AGENT  # a LangGraph graph (its own metadata has no node)
    if "agent" in name.lower():
        return SpanType.AGENT  # AgentExecutor, create_agent's graphs, RunnableAgent, ...
    return SpanType.CHAIN


class SpanlogCallbackHandler(BaseCallbackHandler):  # type: ignore[misc,valid-type]
    """Starts a span at every LangChain run's start and ends it at the run's end (see the module doc)."""

    run_inline = True  # called in the run's own thread and context, never from LangChain's executor
    raise_error = False

    def __init__(self, settings: Any = None) -> None:
        super().__init__()
        self._settings = settings  # the integration's autolog settings, read live (None: defaults)
        self.runs: dict[UUID, RunSpan] = {}
        # under testing mode a failure inside a callback must reach the test, not LangChain's log
        self.raise_error = testing_mode()

    @property
    def options(self) -> Mapping[str, Any]:
        """The options of the latest ``spanlog.langchain.autolog()`` call."""
        return self._settings.options if self._settings is not None else {}

    def __repr__(self) -> str:
        return f"<SpanlogCallbackHandler {len(self.runs)} open runs>"

    # -- spans ----------------------------------------------------------------------------------------------

    def run_span(self, run_id: Any) -> RunSpan | None:
        """The span of a run that has started and not ended, if it is traced."""
        return self.runs.get(run_id)

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        span_type: str,
        inputs: Any,
        tags: Sequence[str] | None,
        metadata: Mapping[str, Any] | None,
    ) -> RunSpan:
        parent = self.runs.get(parent_run_id) if parent_run_id is not None else None
        attributes: dict[str, Any] = {}
        if tags:
            attributes["langchain.tags"] = list(tags)
        if metadata:
            attributes["langchain.metadata"] = dict(metadata)
        if parent is not None:
            token = activate_span(parent.span)  # (use_span's work without a context manager: hot path)
            try:
                span = start_detached_span(name, span_type, attributes=attributes)
            finally:
                deactivate_span(token)
        else:
            span = start_detached_span(name, span_type, attributes=attributes)
        run = RunSpan(span, parent)
        if isinstance(span, NoOpSpan):
            return run
        if parent is not None and tags:
            self._note_retry(parent, tags)
        span.set_inputs(render.plain(inputs))
        if parent_run_id is None:
            self._tag_trace(span, tags, metadata)
        self.runs[run_id] = run
        return run

    @staticmethod
    def _tag_trace(span: Any, tags: Sequence[str] | None, metadata: Mapping[str, Any] | None) -> None:
        """A root run's tags and user metadata become tags of its trace."""
        trace_tags: dict[str, Any] = {}
        for tag in tags or ():
            trace_tags[str(tag)] = "true"
        for key, value in (metadata or {}).items():
            if not str(key).startswith(_INTERNAL_METADATA_PREFIXES):
                trace_tags[str(key)] = value
        if trace_tags:
            spanlog.update_current_trace(tags=trace_tags, request_id=span.request_id)

    @staticmethod
    def _deactivate(run: RunSpan) -> None:
        token, run.token = run.token, None
        if token is not None and current_span() is run.span:  # still this context's active span
            deactivate_span(token)

    def _end(self, run_id: UUID, outputs: Any = None, has_outputs: bool = True, **kwargs: Any) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        if run.token is not None:
            self._deactivate(run)
        span = run.span
        if "inputs" in kwargs and kwargs["inputs"] is not None:
            span.set_inputs(render.plain(kwargs["inputs"]))  # streams know their input only at the end
        if has_outputs:
            span.set_outputs(render.plain(outputs))
        span.end()

    def _error(self, run_id: UUID, error: BaseException) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        if run.token is not None:
            self._deactivate(run)
        if not isinstance(error, GeneratorExit):  # the user stopped a stream: not a failure
            run.span.record_exception(error)
        run.span.end()
        if run.parent is not None:
            run.parent.last_error = error

    @staticmethod
    def _note_retry(parent: RunSpan, tags: Sequence[str]) -> None:
        """RunnableRetry tags the runs of its second and later attempts ``retry:attempt:<n>``: each becomes a
        ``retry`` event of the retrying run, with the failure that caused it."""
        for tag in tags:
            if tag.startswith(_RETRY_TAG):
                attempt = tag[len(_RETRY_TAG) :]
                error = parent.last_error
                parent.span.add_event(
                    RETRY_EVENT,
                    {
                        "attempt": int(attempt) if attempt.isdigit() else attempt,
                        "exception": f"{type(error).__name__}: {error}" if error is not None else "",
                    },
                )
                return

    @staticmethod
    def _provider(metadata: Mapping[str, Any] | None) -> Any:
        """The provider of a model run starting now: from the streamed model's client when the run starts
        inside a stream (a model call refines it from its client otherwise), else LangChain's own say."""
        model = providers.CURRENT_MODEL.get()
        provider = providers.provider_of(model) if model is not None else None
        return provider or (metadata or {}).get("ls_provider")

    # -- chains (runnables, prompts, parsers, graphs, agents) ----------------------------------------------

    @_guarded
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _name(serialized, kwargs, "chain")
        span_type = _chain_type(serialized, name, {**kwargs, "metadata": metadata})
        self._start(run_id, parent_run_id, name, span_type, inputs, tags, metadata)

    @_guarded
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, outputs, inputs=kwargs.get("inputs"))

    @_guarded
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)

    @_guarded
    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            run.span.add_event(
                "agent_action",
                {"tool": str(getattr(action, "tool", "")), "tool_input": render.plain(action.tool_input)},
            )

    @_guarded
    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            run.span.add_event("agent_finish", {"return_values": render.plain(finish.return_values)})

    # -- models ---------------------------------------------------------------------------------------------

    @_guarded
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        conversation = render.messages(messages[0]) if len(messages) == 1 else None
        inputs = conversation if conversation is not None else [render.messages(m) for m in messages]
        name = _name(serialized, kwargs, "chat_model")
        run = self._start(run_id, parent_run_id, name, SpanType.CHAT_MODEL, inputs, tags, metadata)
        params = kwargs.get("invocation_params") or {}
        run.messages = conversation
        run.tools = render.chat_tools(params)
        run.model = params.get("model") or params.get("model_name")
        run.provider = self._provider(metadata)
        if params and not isinstance(run.span, NoOpSpan):
            run.span.set_attribute("langchain.invocation_params", render.plain(params))

    @_guarded
    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        inputs = prompts[0] if len(prompts) == 1 else list(prompts)
        name = _name(serialized, kwargs, "llm")
        run = self._start(run_id, parent_run_id, name, SpanType.LLM, inputs, tags, metadata)
        params = kwargs.get("invocation_params") or {}
        run.model = params.get("model") or params.get("model_name")
        run.provider = self._provider(metadata)
        if params and not isinstance(run.span, NoOpSpan):
            run.span.set_attribute("langchain.invocation_params", render.plain(params))

    @_guarded
    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is None or not token:  # empty tokens (a role chunk, tool call chunks) carry no text
            return
        if not run.first_token:
            run.first_token = True
            run.span.add_event(FIRST_TOKEN_EVENT)
        limit = self.options.get("max_token_events", DEFAULT_MAX_TOKEN_EVENTS)
        if run.token_events < limit:
            run.token_events += 1
            run.span.add_event(TOKEN_EVENT, {"token": token if isinstance(token, str) else str(token)})

    @_guarded
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        generations = [g for batch in (response.generations or ()) for g in batch]
        if run.span.span_type == SpanType.CHAT_MODEL:
            self._record_chat(run, generations)
        else:
            self._record_llm(run, response, generations)
        self._end(run_id, has_outputs=False)

    def _record_chat(self, run: RunSpan, generations: list[Any]) -> None:
        reply = generations[0].message if generations and hasattr(generations[0], "message") else None
        if reply is None:
            set_llm_attributes(
                run.span, model=run.model, provider=run.provider, messages=run.messages, tools=run.tools
            )
            run.span.set_outputs(None)
            return
        shaped = render.message(reply)
        metadata = getattr(reply, "response_metadata", None) or {}
        info = getattr(generations[0], "generation_info", None) or {}
        set_llm_attributes(
            run.span,
            model=metadata.get("model_name") or metadata.get("model") or run.model,
            provider=run.provider,
            messages=[*run.messages, shaped] if run.messages is not None else None,
            tools=run.tools,
            tool_calls=render.tool_calls(reply),
            finish_reason=metadata.get("finish_reason") or info.get("finish_reason"),
            usage=render.chat_usage(reply),
        )
        outputs = shaped if len(generations) == 1 else [render.plain(g) for g in generations]
        run.span.set_outputs(outputs)

    def _record_llm(self, run: RunSpan, response: Any, generations: list[Any]) -> None:
        llm_output = getattr(response, "llm_output", None) or {}
        info = (getattr(generations[0], "generation_info", None) or {}) if generations else {}
        set_llm_attributes(
            run.span,
            model=llm_output.get("model_name") or run.model,
            provider=run.provider,
            finish_reason=info.get("finish_reason"),
            usage=render.llm_output_usage(llm_output),
        )
        texts = [g.text for g in generations]
        run.span.set_outputs(texts[0] if len(texts) == 1 else texts)

    @_guarded
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.messages is not None:
            set_llm_attributes(
                run.span, model=run.model, provider=run.provider, messages=run.messages, tools=run.tools
            )
        self._error(run_id, error)

    # -- tools and retrievers -------------------------------------------------------------------------------

    @_guarded
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _name(serialized, kwargs, "tool")
        run = self._start(
            run_id,
            parent_run_id,
            name,
            SpanType.TOOL,
            inputs if inputs is not None else input_str,
            tags,
            metadata,
        )
        description = serialized.get("description") if isinstance(serialized, Mapping) else None
        if description and not isinstance(run.span, NoOpSpan):
            run.span.set_attribute("langchain.tool.description", description)

    @_guarded
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, output)

    @_guarded
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)

    @_guarded
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = _name(serialized, kwargs, "retriever")
        run = self._start(run_id, parent_run_id, name, SpanType.RETRIEVER, query, tags, metadata)
        if not isinstance(run.span, NoOpSpan):
            # a retriever's start and end happen in one call frame (invoke / ainvoke), so its span can be
            # active in between: the embedding call of a vector store retriever nests under it
            run.token = activate_span(run.span)

    @_guarded
    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, list(documents))

    @_guarded
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._error(run_id, error)

    # -- events ---------------------------------------------------------------------------------------------

    @_guarded
    def on_retry(self, retry_state: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        attributes: dict[str, Any] = {"attempt": getattr(retry_state, "attempt_number", None)}
        outcome = getattr(retry_state, "outcome", None)
        if outcome is not None and getattr(outcome, "failed", False):
            exc = outcome.exception()
            attributes["exception"] = f"{type(exc).__name__}: {exc}"
        run.span.add_event(RETRY_EVENT, attributes)

    @_guarded
    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            run.span.add_event(str(name), {"data": render.plain(data)})
