"""Fixtures of the plugin tests: a fresh copy of the sample library per test, and testing mode switches."""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from spanlog.tracing.state import STATE

from sample_library import make_library


@pytest.fixture
def lib(tmp_path: Path) -> types.ModuleType:
    """The sample library, imported under a module name no other test uses."""
    return importlib.import_module(make_library(tmp_path))


@pytest.fixture
def lib_name(tmp_path: Path) -> str:
    """The name of a sample library that is NOT imported yet (for post-import hooks)."""
    return make_library(tmp_path, "lazylib")


@pytest.fixture
def production_mode() -> Iterator[None]:
    """Errors inside spanlog are swallowed, logged and counted, as for users (not raised, as in tests)."""
    saved = STATE.testing
    STATE.testing = False
    try:
        yield
    finally:
        STATE.testing = saved
