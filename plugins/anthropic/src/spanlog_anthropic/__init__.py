"""spanlog-anthropic: traces the Anthropic Python SDK with spanlog (``spanlog.anthropic.autolog()``).

The plugin is found through the ``spanlog`` entry point; importing this package does not import ``anthropic``.
"""

__version__ = "0.1.0"
