"""The spanlog plugin (entry point ``spanlog: llama_index``): declares the ``llama_index`` integration.

Importing this module must stay cheap and must not import LlamaIndex: ``_patch`` imports it, when the user
calls ``spanlog.llama_index.autolog()`` (or when ``llama_index.core`` is imported after it).
"""

from __future__ import annotations

from collections.abc import Sequence

from spanlog.plugins import AutologContext, Integration, hookimpl


def _patch(ctx: AutologContext) -> None:
    from spanlog_llama_index.handlers import install

    install(ctx)


def _unpatch(ctx: AutologContext) -> None:
    from spanlog_llama_index.handlers import uninstall

    uninstall(ctx)


@hookimpl
def spanlog_integrations() -> Sequence[Integration]:
    """The ``llama_index`` integration; its supported range comes from this distribution's ``instruments``
    extra."""
    return [
        Integration(
            name="llama_index",
            library="llama-index-core",
            module="llama_index.core",
            patch=_patch,
            unpatch=_unpatch,
            extra="llama-index",
            description=(
                "Traces LlamaIndex through its instrumentation dispatcher: query and chat engines, "
                "retrievers, rerankers, synthesizers, LLMs, embeddings, agents, workflows and tools, "
                "sync and async, streamed or not."
            ),
        )
    ]
