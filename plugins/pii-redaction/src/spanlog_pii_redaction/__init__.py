"""Redact personal data and secrets (e-mail addresses, phone numbers, API keys) from spanlog spans.

Installed, the plugin redacts every span before it is exported; ``configure`` changes what it does and
``redact`` applies the same redaction to any value. See README.md for the environment variables.
"""

from __future__ import annotations

from spanlog_pii_redaction.patterns import API_KEY, CATEGORIES, EMAIL, PHONE
from spanlog_pii_redaction.redaction import Settings, configure, redact, settings

__all__ = ["API_KEY", "CATEGORIES", "EMAIL", "PHONE", "Settings", "configure", "redact", "settings"]
