"""The spanlog plugin (entry point ``spanlog: ag2``): declares the ``ag2`` integration.

Importing this module must stay cheap and must not import AG2 (module ``autogen``): it is imported by
``_patch``, when the user calls ``spanlog.ag2.autolog()`` (or when it is imported after that).
"""

from __future__ import annotations

from collections.abc import Sequence

from spanlog.plugins import AutologContext, Integration, hookimpl


def _patch(ctx: AutologContext) -> None:
    from spanlog_autogen.ag2 import patch_ag2

    patch_ag2(ctx)


@hookimpl
def spanlog_integrations() -> Sequence[Integration]:
    """The ``ag2`` integration; its supported range comes from this distribution's ``instruments`` extra."""
    return [
        Integration(
            name="ag2",
            library="ag2",
            module="autogen",
            patch=_patch,
            extra="autogen",
            description=(
                "Traces AG2 (the classic ConversableAgent API): initiate_chat, each reply generation, "
                "model calls and function executions."
            ),
        )
    ]
