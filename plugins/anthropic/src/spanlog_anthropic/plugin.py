"""spanlog plugin for the Anthropic SDK: ``spanlog.anthropic.autolog()`` traces ``messages.create`` (sync and
async, streamed or not) and the ``messages.stream(...)`` helper, on every client, created before or after.

Only the plugin API is used: ``ctx.patch`` records each patch, so that ``autolog(disable=True)`` puts the
SDK's own functions back, and ``category=PROVIDER`` lets a framework whose span already covers the call
suppress this one.
"""

from __future__ import annotations

import importlib

from spanlog.plugins import PROVIDER, AutologContext, Integration, hookimpl


def patch_anthropic(ctx: AutologContext) -> None:
    """Patch the methods of the SDK's messages resources (the library is imported here, not before)."""
    # this module is imported when spanlog discovers plugins, at the first trace of every process: keep it
    # light, and import the SDK and the span code only when the user asks for the integration
    from spanlog_anthropic import calls, streams

    anthropic = importlib.import_module("anthropic")
    resources = importlib.import_module("anthropic.resources.messages")
    message_type = anthropic.types.Message
    stream_types = (anthropic.Stream, anthropic.AsyncStream)
    sync_messages, async_messages = resources.Messages, resources.AsyncMessages
    # AsyncMessages.create is an `async def` behind the SDK's synchronous `required_args` decorator, so
    # whether each method is async is said explicitly rather than detected
    ctx.patch(
        sync_messages,
        "create",
        calls.sync_create(message_type, stream_types),
        category=PROVIDER,
        is_async=False,
    )
    ctx.patch(
        async_messages,
        "create",
        calls.async_create(message_type, stream_types),
        category=PROVIDER,
        is_async=True,
    )
    ctx.patch(
        sync_messages,
        "stream",
        calls.stream_helper(streams.MessageStreamManagerProxy),
        category=PROVIDER,
        is_async=False,
    )
    ctx.patch(
        async_messages,
        "stream",
        calls.stream_helper(streams.AsyncMessageStreamManagerProxy),
        category=PROVIDER,
        is_async=False,
    )


@hookimpl
def spanlog_integrations() -> list[Integration]:
    """Declare the Anthropic integration (the supported range comes from the ``instruments`` extra)."""
    return [
        Integration(
            name="anthropic",
            library="anthropic",
            module="anthropic",
            patch=patch_anthropic,
            description="Spans for the Anthropic SDK's messages.create and messages.stream",
        )
    ]
