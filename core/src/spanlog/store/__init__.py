"""Trace stores: the interface, and the SQL implementation for SQLite and PostgreSQL (imported on use)."""

from __future__ import annotations

from spanlog.store.base import TracePage, TraceStore

__all__ = ["TracePage", "TraceStore"]
