"""Offline model results for the autogen-agentchat tests: autogen-ext's ReplayChatCompletionClient answering
canned ``CreateResult``s, so the span tree of a run can be checked without a model server."""

from __future__ import annotations

from typing import Any

from autogen_core.models import CreateResult, ModelFamily, RequestUsage

from cassettes import without_legacy_function_call

MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "family": ModelFamily.UNKNOWN,
    "structured_output": False,
}


def replay_client(*results: Any) -> Any:
    """A ReplayChatCompletionClient (autogen-ext's offline client) answering ``results`` in order."""
    from autogen_ext.models.replay import ReplayChatCompletionClient

    return ReplayChatCompletionClient(list(results), model_info=MODEL_INFO)


def tool_call_result(name: str, arguments: str, call_id: str = "call_1") -> Any:
    """A model result that calls one tool."""
    from autogen_core import FunctionCall

    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id=call_id, name=name, arguments=arguments)],
        usage=RequestUsage(prompt_tokens=12, completion_tokens=5),
        cached=False,
    )


def text_result(text: str) -> Any:
    """A model result that answers with text."""
    return CreateResult(
        finish_reason="stop",
        content=text,
        usage=RequestUsage(prompt_tokens=20, completion_tokens=3),
        cached=False,
    )


async def drop_legacy_function_call(response: Any) -> None:
    """httpx response hook: see ``cassettes.without_legacy_function_call``."""
    if response.headers.get("content-type", "").startswith("application/json"):
        await response.aread()
        body = without_legacy_function_call(response.content)
        if body is not None:
            response._content = body
