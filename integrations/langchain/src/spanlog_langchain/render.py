"""LangChain values as plain data: what span inputs, outputs and the normalized chat attributes hold.

Messages take the OpenAI chat shape (``{"role", "content", ...}``, the shape of docs/schema.md), documents
become ``{"page_content", "metadata"}``, prompt values their messages or text. Everything else is left to
spanlog's serializer. Nothing here changes the objects it reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spanlog.plugins.llm import token_usage

_MAX_DEPTH = 8  # inputs are usually shallow; a deep or cyclic structure is left to the serializer


class LangChainTypes:
    """LangChain's classes, filled in by ``patch.py`` once langchain_core is imported."""

    message: tuple[type, ...] = ()
    document: tuple[type, ...] = ()
    prompt_value: tuple[type, ...] = ()
    generation: tuple[type, ...] = ()
    chat_generation: tuple[type, ...] = ()


LC = LangChainTypes()


def load_types() -> None:
    """Read LangChain's classes (called once, when patching)."""
    from langchain_core.documents import Document
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGeneration, Generation
    from langchain_core.prompt_values import PromptValue

    LC.message = (BaseMessage,)
    LC.document = (Document,)
    LC.prompt_value = (PromptValue,)
    LC.generation = (Generation,)
    LC.chat_generation = (ChatGeneration,)


_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}


def message(msg: Any) -> dict[str, Any]:
    """One LangChain message in the OpenAI chat shape."""
    content = msg.content
    role = _ROLES.get(msg.type)
    if (
        role is not None
        and role != "tool"
        and isinstance(content, str)
        and not getattr(msg, "tool_calls", None)
        and not getattr(msg, "invalid_tool_calls", None)
        and not msg.additional_kwargs
    ):  # the common case, without LangChain's general converter (the hot path of every chat run)
        shaped = {"role": role, "content": content}
        if msg.name:
            shaped["name"] = msg.name
        return shaped
    from langchain_core.messages import convert_to_openai_messages

    converted = convert_to_openai_messages(msg)
    return converted if isinstance(converted, dict) else {"role": getattr(msg, "type", None), "content": msg}


def messages(msgs: Sequence[Any]) -> list[dict[str, Any]]:
    """A list of LangChain messages in the OpenAI chat shape."""
    return [message(m) for m in msgs]


def document(doc: Any) -> dict[str, Any]:
    """A LangChain Document as ``{"page_content", "metadata"}`` (and ``"id"`` when it has one)."""
    data: dict[str, Any] = {"page_content": doc.page_content, "metadata": dict(doc.metadata)}
    if getattr(doc, "id", None) is not None:
        data["id"] = doc.id
    return data


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` with every LangChain message, document and prompt value inside it as plain data."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, LC.message):
        return message(value)
    if isinstance(value, LC.document):
        return document(value)
    if isinstance(value, LC.prompt_value):
        msgs = value.to_messages()
        if type(value).__name__ == "StringPromptValue":
            return value.to_string()
        return {"messages": messages(msgs)}
    if isinstance(value, LC.chat_generation):
        return message(value.message)
    if isinstance(value, LC.generation):
        return value.text
    if isinstance(value, Mapping):
        return {key: plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in value]
    return value


def tool_calls(msg: Any) -> list[dict[str, Any]] | None:
    """The tool calls of an AI message in the chat shape (``arguments`` a JSON string)."""
    if not getattr(msg, "tool_calls", None):
        return None
    return message(msg).get("tool_calls")


def chat_usage(msg: Any) -> dict[str, int] | None:
    """Token usage of an AI message (``usage_metadata``), normalized."""
    usage = getattr(msg, "usage_metadata", None)
    if not usage:
        return None
    details = usage.get("input_token_details") or {}
    return token_usage(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        usage.get("total_tokens"),
        details.get("cache_read"),
    )


def llm_output_usage(llm_output: Any) -> dict[str, int] | None:
    """Token usage that a completion model reports in ``LLMResult.llm_output`` (OpenAI's field names)."""
    if not isinstance(llm_output, Mapping):
        return None
    usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(usage, Mapping):
        return None
    return token_usage(
        usage.get("prompt_tokens", usage.get("input_tokens")),
        usage.get("completion_tokens", usage.get("output_tokens")),
        usage.get("total_tokens"),
    )


def chat_tools(invocation_params: Any) -> list[Any] | None:
    """The tools a chat model was offered, from its invocation parameters, in the chat shape."""
    if not isinstance(invocation_params, Mapping):
        return None
    tools = invocation_params.get("tools")
    if not tools or not isinstance(tools, (list, tuple)):
        return None
    shaped = []
    for tool in tools:
        if isinstance(tool, Mapping) and "function" in tool:
            shaped.append(dict(tool))
        else:
            try:
                from langchain_core.utils.function_calling import convert_to_openai_tool

                shaped.append(convert_to_openai_tool(tool))
            except Exception:
                shaped.append(plain(tool))
    return shaped
