"""The spanlog plugin (entry point ``spanlog: langchain``): declares the ``langchain`` integration.

Importing this module must stay cheap and must not import LangChain: ``langchain_core`` is imported by
``_patch``, when the user calls ``spanlog.langchain.autolog()`` (or when ``langchain_core`` is imported
after it).
"""

from __future__ import annotations

from collections.abc import Sequence

from spanlog.plugins import AutologContext, Integration, hookimpl


def _patch(ctx: AutologContext) -> None:
    from spanlog_langchain.patch import patch_langchain

    patch_langchain(ctx)


def _unpatch(ctx: AutologContext) -> None:
    from spanlog_langchain.patch import unpatch_langchain

    unpatch_langchain(ctx)


@hookimpl
def spanlog_integrations() -> Sequence[Integration]:
    """The ``langchain`` integration; its supported range comes from this distribution's ``instruments``
    extra (langchain-core, which every LangChain package and LangGraph build on)."""
    return [
        Integration(
            name="langchain",
            library="langchain-core",
            module="langchain_core",
            patch=_patch,
            unpatch=_unpatch,
            extra="langchain",
            description=(
                "Traces LangChain and LangGraph: every run of a runnable, chain, chat model, LLM, tool, "
                "retriever, parser, embedding or graph becomes a span in the run's tree."
            ),
        )
    ]
