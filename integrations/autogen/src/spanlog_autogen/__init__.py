"""spanlog's AutoGen integrations: ``spanlog.autogen.autolog()`` traces autogen-agentchat (teams, agents,
model clients, tools) and ``spanlog.ag2.autolog()`` traces AG2's ConversableAgent chats.

The plugins are found through the ``spanlog`` entry points; importing this package imports neither library.
"""

from __future__ import annotations

__version__ = "0.1.0"
