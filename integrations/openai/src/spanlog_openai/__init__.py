"""spanlog's OpenAI integration: ``spanlog.openai.autolog()`` turns every call of the OpenAI SDK into a span.

Traced: ``chat.completions.create`` / ``.parse`` (and ``.stream``, which calls ``create``), legacy
``completions.create``, ``embeddings.create`` and ``responses.create`` / ``.parse`` (and ``.stream``), on the
sync and async clients, streamed or not. The plugin is found through the ``spanlog`` entry point; importing
this package does not import ``openai``.
"""

from __future__ import annotations

__version__ = "0.1.0"
