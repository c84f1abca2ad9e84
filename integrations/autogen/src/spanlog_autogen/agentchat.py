"""What ``spanlog.autogen.autolog()`` patches in autogen-agentchat, and the spans it makes.

==================================================== ============ ==============================================
patched                                              span type    span
==================================================== ============ ==============================================
``BaseGroupChat.run`` / ``run_stream``               AGENT        ``<Team>.run``: the root of a team's run
``BaseChatAgent.run`` / ``run_stream``               AGENT        ``<Agent>.run``: the root of one agent's run
``on_messages`` / ``on_messages_stream`` of every    AGENT        ``<agent name>.on_messages``: one agent's turn,
agent class                                                       with the messages it received and produced
``create`` / ``create_stream`` of every model client CHAT_MODEL   ``<Client>.create``: normalized messages, usage
``BaseTool.run_json``                                TOOL         ``<tool name>``: arguments and result
==================================================== ============ ==============================================

A team runs its agents inside autogen-core's runtime, in asyncio tasks created while the team's stream
makes its first item; the team's span is active then (see ``ActiveStream``), so the tasks inherit it and
every agent's turn nests under the run that caused it, also when several runs go on at once.

Agent classes and model clients are subclassed freely (by autogen-ext and by users), so the classes are
patched where they define the method: every subclass known when autolog runs, and any other one the first
time an instance of it is created (agents) or used by an agent (model clients).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import spanlog
from spanlog.entities import SpanType
from spanlog.plugins import AutologContext, start_detached_span
from spanlog_autogen import models
from spanlog_autogen._common import Guard, argument, is_noop, last_item_stream, open_stream

AGENT_NAME = "autogen.agent.name"
AGENT_CLASS = "autogen.agent.class"
PARTICIPANTS = "autogen.team.participants"
MESSAGES_RECEIVED = "autogen.messages.received"
MESSAGES_PRODUCED = "autogen.messages.produced"
TOOL_CALL_ID = "autogen.tool.call_id"

RUN = Guard("spanlog_autogen_run")  # the team or agent whose run is traced in this context
TURN = Guard("spanlog_autogen_turn")  # the agent whose turn is traced in this context

# model client modules patched when importable (the subclass walk finds the ones already imported)
_CLIENT_MODULES = ("autogen_ext.models.openai", "autogen_ext.models.replay")


def _subclasses(cls: type) -> Iterator[type]:
    seen: set[type] = set()
    stack = [cls]
    while stack:
        klass = stack.pop()
        if klass in seen:
            continue
        seen.add(klass)
        yield klass
        stack.extend(klass.__subclasses__())


def _defines(cls: type, name: str) -> bool:
    """True when ``cls`` itself has a concrete ``name`` (inherited and abstract methods are not patched)."""
    value = vars(cls).get(name)
    return callable(value) and not getattr(value, "__isabstractmethod__", False)


def _task_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if key != "cancellation_token"}


def _run_attributes(instance: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {AGENT_CLASS: type(instance).__name__}
    name = getattr(instance, "name", None)
    if isinstance(name, str):
        attributes[AGENT_NAME] = name
    participants = getattr(instance, "_participants", None)
    if participants:
        attributes[PARTICIPANTS] = [getattr(p, "name", str(p)) for p in participants]
    return attributes


def _run_name(instance: Any, method: str) -> str:
    return f"{type(instance).__name__}.{method}"


def _result_attributes(span: Any, result: Any) -> None:
    messages = getattr(result, "messages", None)
    if messages is not None:
        span.set_attribute(MESSAGES_PRODUCED, len(messages))
    stop_reason = getattr(result, "stop_reason", None)
    if stop_reason is not None:
        span.set_attribute("autogen.stop_reason", stop_reason)


class _Patcher:
    """The wrappers, bound to one autolog context (to patch classes met later through it)."""

    def __init__(self, ctx: AutologContext) -> None:
        self.ctx = ctx
        self.agent_classes: set[type] = set()
        self.client_classes: set[type] = set()
        self.closed = False  # set by unpatch: a wrapper still running then patches nothing more
        self.response: type | None = None
        self.task_result: type | None = None

    # -- classes --------------------------------------------------------------------------------------------

    def agent_class(self, cls: type) -> None:
        """Patch an agent class's own ``on_messages`` / ``on_messages_stream`` (once per class)."""
        if cls in self.agent_classes or self.closed:
            return
        self.agent_classes.add(cls)
        if _defines(cls, "on_messages"):
            self.ctx.patch(cls, "on_messages", self.on_messages, is_async=True)
        if _defines(cls, "on_messages_stream"):
            self.ctx.patch(cls, "on_messages_stream", self.on_messages_stream, is_async=False)

    def client_class(self, cls: type) -> None:
        """Patch a model client class's own ``create`` / ``create_stream`` (once per class)."""
        if cls in self.client_classes or self.closed:
            return
        self.client_classes.add(cls)
        if _defines(cls, "create"):
            self.ctx.patch(cls, "create", models.create_wrapper, is_async=True)
        if _defines(cls, "create_stream"):
            self.ctx.patch(cls, "create_stream", models.create_stream_wrapper, is_async=False)

    def client_of(self, agent: Any) -> None:
        client = getattr(agent, "_model_client", None)
        if client is not None and type(client) not in self.client_classes:
            for klass in type(client).__mro__:
                self.client_class(klass)

    # -- wrappers ---------------------------------------------------------------------------------------------

    def agent_init(
        self, call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``BaseChatAgent.__init__``: makes sure the class of every new agent is patched."""
        result = call(*args, **kwargs)
        cls = type(instance)
        if cls not in self.agent_classes:
            for klass in cls.__mro__:
                self.agent_class(klass)
        return result

    async def run(
        self, call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``run`` of a team or agent: the AGENT span of the whole run."""
        if RUN.holds(instance):
            return await call(*args, **kwargs)
        with spanlog.start_span(
            _run_name(instance, "run"), span_type=SpanType.AGENT, attributes=_run_attributes(instance)
        ) as span:
            if not is_noop(span):
                span.set_inputs(_task_inputs(args, kwargs))
            with RUN.hold(instance):
                result = await call(*args, **kwargs)
            if not is_noop(span):
                _result_attributes(span, result)
                span.set_outputs(result)
        return result

    def run_stream(
        self, call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``run_stream`` of a team or agent: an AGENT span that ends with the stream."""
        if RUN.holds(instance):
            return call(*args, **kwargs)
        span = start_detached_span(
            _run_name(instance, "run_stream"),
            SpanType.AGENT,
            inputs=_task_inputs(args, kwargs),
            attributes=_run_attributes(instance),
        )
        if is_noop(span):
            return call(*args, **kwargs)
        stream = open_stream(call, args, kwargs, span)
        return last_item_stream(stream, span, self.task_result, _result_attributes, RUN, instance)

    def _turn_attributes(self, instance: Any, messages: Any) -> dict[str, Any]:
        attributes = {AGENT_NAME: getattr(instance, "name", None), AGENT_CLASS: type(instance).__name__}
        try:
            attributes[MESSAGES_RECEIVED] = len(messages)
        except TypeError:
            pass
        return attributes

    def _response_attributes(self, span: Any, response: Any) -> None:
        inner = getattr(response, "inner_messages", None) or ()
        produced = len(inner) + (1 if getattr(response, "chat_message", None) is not None else 0)
        span.set_attribute(MESSAGES_PRODUCED, produced)

    async def on_messages(
        self, call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """An agent's turn (``on_messages``): AGENT span with the messages received and the response."""
        if TURN.holds(instance):
            return await call(*args, **kwargs)
        self.client_of(instance)
        messages = argument(args, kwargs, 0, "messages", ())
        name = f"{getattr(instance, 'name', type(instance).__name__)}.on_messages"
        with spanlog.start_span(
            name, span_type=SpanType.AGENT, attributes=self._turn_attributes(instance, messages)
        ) as span:
            if not is_noop(span):
                span.set_inputs({"messages": list(messages)})
            with TURN.hold(instance):
                response = await call(*args, **kwargs)
            if not is_noop(span):
                self._response_attributes(span, response)
                span.set_outputs(response)
        return response

    def on_messages_stream(
        self, call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """An agent's streamed turn (``on_messages_stream``): an AGENT span that ends with the stream."""
        if TURN.holds(instance):
            return call(*args, **kwargs)
        self.client_of(instance)
        messages = argument(args, kwargs, 0, "messages", ())
        span = start_detached_span(
            f"{getattr(instance, 'name', type(instance).__name__)}.on_messages_stream",
            SpanType.AGENT,
            attributes=self._turn_attributes(instance, messages),
        )
        if is_noop(span):
            return call(*args, **kwargs)
        span.set_inputs({"messages": list(messages)})
        stream = open_stream(call, args, kwargs, span)
        return last_item_stream(stream, span, self.response, self._response_attributes, TURN, instance)

    async def run_json(
        self, call: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``BaseTool.run_json``: a TOOL span with the arguments and the tool's return value."""
        arguments = argument(args, kwargs, 0, "args", None)
        call_id = argument(args, kwargs, 2, "call_id", None)
        attributes = {"autogen.tool.description": getattr(instance, "description", None)}
        if call_id:
            attributes[TOOL_CALL_ID] = call_id
        with spanlog.start_span(
            getattr(instance, "name", type(instance).__name__), span_type=SpanType.TOOL, attributes=attributes
        ) as span:
            if not is_noop(span):
                span.set_inputs(dict(arguments) if arguments is not None else None)
            result = await call(*args, **kwargs)
            if not is_noop(span):
                span.set_outputs(result)
        return result


def patch_agentchat(ctx: AutologContext) -> None:
    """Patch runs, turns, model clients and tools of autogen-agentchat (see the module docstring)."""
    base = importlib.import_module("autogen_agentchat.base")
    agents = importlib.import_module("autogen_agentchat.agents")
    teams = importlib.import_module("autogen_agentchat.teams")
    core_models = importlib.import_module("autogen_core.models")
    tools = importlib.import_module("autogen_core.tools")
    for module_name in _CLIENT_MODULES:
        try:
            importlib.import_module(module_name)
        except ImportError:  # autogen-ext (or its openai extra) is optional
            pass

    patcher = _Patcher(ctx)
    patcher.response = base.Response
    patcher.task_result = base.TaskResult
    ctx.state["patcher"] = patcher

    for owner in (teams.BaseGroupChat, agents.BaseChatAgent):
        ctx.patch(owner, "run", patcher.run, is_async=True)
        ctx.patch(owner, "run_stream", patcher.run_stream, is_async=False)
    ctx.patch(agents.BaseChatAgent, "__init__", patcher.agent_init, is_async=False)
    for klass in _subclasses(agents.BaseChatAgent):
        patcher.agent_class(klass)
    for klass in _subclasses(core_models.ChatCompletionClient):
        patcher.client_class(klass)
    ctx.patch(tools.BaseTool, "run_json", patcher.run_json, is_async=True)


def unpatch_agentchat(ctx: AutologContext) -> None:
    """Stop patching classes met later (the context then restores every attribute it patched)."""
    patcher = ctx.state.get("patcher")
    if patcher is not None:
        patcher.closed = True
