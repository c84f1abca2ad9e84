"""The spanlog plugin (entry point ``spanlog: openai``): declares the ``openai`` integration.

Importing this module must stay cheap and must not import ``openai``: the SDK is imported by ``_patch``,
when the user calls ``spanlog.openai.autolog()`` (or when ``openai`` is imported after it).
"""

from __future__ import annotations

from collections.abc import Sequence

from spanlog.plugins import AutologContext, Integration, hookimpl


def _patch(ctx: AutologContext) -> None:
    from spanlog_openai.patch import patch_openai

    patch_openai(ctx)


@hookimpl
def spanlog_integrations() -> Sequence[Integration]:
    """The ``openai`` integration; its supported range comes from this distribution's ``instruments`` extra."""
    return [
        Integration(
            name="openai",
            library="openai",
            module="openai",
            patch=_patch,
            extra="openai",
            description=(
                "Traces the OpenAI Python SDK: chat completions, legacy completions, embeddings and "
                "responses, sync and async, streamed or not."
            ),
        )
    ]
