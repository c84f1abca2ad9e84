"""Fixtures of the PII-redaction plugin tests: the plugin registered by hand, with default settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest
import spanlog_pii_redaction
from spanlog_pii_redaction import plugin

import spanlog.plugins


@pytest.fixture(autouse=True)
def pii_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The plugin module, registered as ``pii_redaction`` with the default settings (environment cleared).

    Its entry point is skipped, so that an installed copy does not register itself first; the root
    conftest unregisters every plugin after the test.
    """
    disabled = os.environ.get("SPANLOG_DISABLE_PLUGINS", "")
    monkeypatch.setenv("SPANLOG_DISABLE_PLUGINS", ",".join(filter(None, [disabled, "pii_redaction"])))
    monkeypatch.delenv("SPANLOG_PII_REDACTION", raising=False)
    monkeypatch.delenv("SPANLOG_PII_REDACTION_CATEGORIES", raising=False)
    spanlog_pii_redaction.configure()
    spanlog.plugins.register(plugin, name="pii_redaction")
    yield plugin
    monkeypatch.undo()
    spanlog_pii_redaction.configure()
