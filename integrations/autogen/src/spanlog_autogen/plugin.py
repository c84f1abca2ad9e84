"""The spanlog plugin (entry point ``spanlog: autogen``): declares the ``autogen`` integration.

Importing this module must stay cheap and must not import AutoGen: autogen-agentchat is imported by
``_patch``, when the user calls ``spanlog.autogen.autolog()`` (or when it is imported after that).
"""

from __future__ import annotations

from collections.abc import Sequence

from spanlog.plugins import AutologContext, Integration, hookimpl


def _patch(ctx: AutologContext) -> None:
    from spanlog_autogen.agentchat import patch_agentchat

    patch_agentchat(ctx)


def _unpatch(ctx: AutologContext) -> None:
    from spanlog_autogen.agentchat import unpatch_agentchat

    unpatch_agentchat(ctx)


@hookimpl
def spanlog_integrations() -> Sequence[Integration]:
    """The ``autogen`` integration; its supported range comes from this distribution's ``instruments`` extra."""
    return [
        Integration(
            name="autogen",
            library="autogen-agentchat",
            module="autogen_agentchat",
            patch=_patch,
            unpatch=_unpatch,
            extra="autogen",
            description=(
                "Traces autogen-agentchat: agent and team runs (streamed or not), each agent's turn, "
                "model client calls and tool executions."
            ),
        )
    ]
