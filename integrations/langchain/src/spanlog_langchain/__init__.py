"""spanlog's LangChain integration: ``spanlog.langchain.autolog()`` turns every LangChain run into a span.

Chains and runnables, prompts, chat models, LLMs, tools, retrievers, output parsers, embeddings, document
compressors, agents and LangGraph graphs become a span tree that mirrors the run tree, for invoke, batch,
stream and their async forms. The plugin is found through the ``spanlog`` entry point; importing this
package does not import LangChain.
"""

from __future__ import annotations

__version__ = "0.1.0"
