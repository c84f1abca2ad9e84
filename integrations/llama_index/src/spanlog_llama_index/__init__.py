"""spanlog's LlamaIndex integration: ``spanlog.llama_index.autolog()`` traces every LlamaIndex run.

It hooks into LlamaIndex's own instrumentation dispatcher (one span handler and one event handler on the
root dispatcher), so query and chat engines, retrievers, rerankers, synthesizers, LLMs, embeddings, tools,
agents and workflows each become a typed span, sync or async, streamed or not. The plugin is found through
the ``spanlog`` entry point; importing this package does not import LlamaIndex.
"""

from __future__ import annotations

__version__ = "0.1.0"
