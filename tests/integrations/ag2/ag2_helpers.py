"""An offline AG2 model client (``register_model_client``) answering canned OpenAI ``ChatCompletion``s, so
the span tree of a chat can be checked without a model server."""

from __future__ import annotations

import json
from typing import Any

import httpx
from openai.types.chat import ChatCompletion

from cassettes import without_legacy_function_call

USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}


def tool_call_reply(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    """An assistant message that calls one function."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def text_reply(text: str) -> dict[str, Any]:
    """An assistant message with text."""
    return {"role": "assistant", "content": text}


class CannedClient:
    """AG2's ModelClient protocol over a list of canned assistant messages (``config["replies"]``)."""

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        self.model = config["model"]
        self.replies = list(config["replies"])

    def create(self, params: dict[str, Any]) -> ChatCompletion:
        message = self.replies.pop(0)
        return ChatCompletion.model_validate(
            {
                "id": "chatcmpl-canned",
                "object": "chat.completion",
                "created": 0,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    }
                ],
                "usage": USAGE,
            }
        )

    def message_retrieval(self, response: ChatCompletion) -> list[Any]:
        return [choice.message for choice in response.choices]

    def cost(self, response: ChatCompletion) -> float:
        return 0.0

    @staticmethod
    def get_usage(response: ChatCompletion) -> dict[str, Any]:
        return {**USAGE, "cost": 0.0, "model": response.model}


def canned_agents(*replies: dict[str, Any], prefix: str = "") -> tuple[Any, Any]:
    """An assistant answering ``replies`` in order and a user proxy that executes its ``add`` calls."""
    from autogen import ConversableAgent, register_function

    config = {
        "config_list": [{"model": "canned", "model_client_cls": "CannedClient", "replies": list(replies)}],
        "cache_seed": None,
    }
    assistant = ConversableAgent(f"{prefix}assistant", llm_config=config, system_message="You add numbers.")
    user = ConversableAgent(f"{prefix}user", llm_config=False, human_input_mode="NEVER")
    register_function(add, caller=assistant, executor=user, description="Add two integers.")
    register_function(explode, caller=assistant, executor=user, description="Always fails.")
    assistant.register_model_client(CannedClient)  # after register_function, which rebuilds the client
    return assistant, user


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def explode(a: int, b: int) -> int:
    """A function that always fails."""
    raise ValueError("boom")


def drop_legacy_function_call(response: Any) -> None:
    """httpx response hook: see ``cassettes.without_legacy_function_call``."""
    if response.headers.get("content-type", "").startswith("application/json"):
        response.read()
        body = without_legacy_function_call(response.content)
        if body is not None:
            response._content = body


class SharedHttpClient(httpx.Client):
    """An httpx client that AG2's deep copy of ``llm_config`` shares instead of copying (AG2 asks for a
    ``__deepcopy__`` on every object it cannot copy, such as a client with its locks)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedHttpClient:
        return self


def name_the_tool(request: httpx.Request) -> None:
    """httpx request hook: ask for the first offered tool by name on a conversation's first tool turn.

    The local base model calls tools reliably only when the request names one, and AG2's ``tool_choice``
    takes only ``"auto"``, ``"none"`` or ``"required"`` (which llama-cpp-python's server rejects). Once a tool
    result is in the conversation, the request is left as AG2 made it. The cassettes record the request as
    sent, so replay matches it.
    """
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return
    body = json.loads(request.content)
    tools = body.get("tools")
    if not tools or body.get("tool_choice", "auto") != "auto":
        return
    if any(message.get("role") == "tool" for message in body.get("messages", ())):
        return
    body["tool_choice"] = {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    content = json.dumps(body).encode()
    request.headers["content-length"] = str(len(content))
    request._content = content
    request.stream = httpx.ByteStream(content)
