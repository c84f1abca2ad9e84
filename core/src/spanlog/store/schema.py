"""The store's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL. Alembic migrations create them.

One row per trace (summary columns that search filters and sorts on), its tags and metadata as key/value rows,
and one row per span with the columns span-level filters use. Indexes follow the filters of the search grammar.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("creation_time_ms", BigInteger, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, server_default="active"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("run_name", String(256), nullable=False),
    Column("start_time_ms", BigInteger, nullable=False),
    Column("end_time_ms", BigInteger),
    Column("status", String(16), nullable=False),
)

traces = Table(
    "traces",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("execution_time_ms", BigInteger),
    Column("status", String(16), nullable=False),
    Column("name", String(256)),
    Column("run_id", String(32)),
    Column("request_preview", Text),
    Column("response_preview", Text),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("total_tokens", BigInteger),
    Column("span_count", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Index(None, "experiment_id", "timestamp_ms", "request_id"),
    Index(None, "experiment_id", "status", "timestamp_ms"),
    Index(None, "experiment_id", "execution_time_ms"),
    Index(None, "run_id"),
    Index(None, "name"),
)

trace_tags = Table(
    "trace_tags",
    metadata,
    Column("request_id", String(64), ForeignKey("traces.request_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value", "request_id", postgresql_ops={"value": "text_pattern_ops"}),
)

trace_metadata = Table(
    "trace_metadata",
    metadata,
    Column("request_id", String(64), ForeignKey("traces.request_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value", "request_id", postgresql_ops={"value": "text_pattern_ops"}),
)

spans = Table(
    "spans",
    metadata,
    Column("request_id", String(64), ForeignKey("traces.request_id", ondelete="CASCADE"), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_id", String(16)),
    Column("position", Integer, nullable=False),
    Column("name", String(256), nullable=False),
    Column("span_type", String(64), nullable=False),
    Column("status_code", String(16), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("start_time_ns", BigInteger, nullable=False),
    Column("end_time_ns", BigInteger),
    Column("inputs", Text),
    Column("outputs", Text),
    Column("attributes", Text, nullable=False),
    Column("events", Text, nullable=False),
    Index(None, "name", "request_id"),
    Index(None, "span_type", "request_id"),
    Index(None, "status_code", "request_id"),
)
"""``attributes`` holds the JSON object of the span's user attributes with decoded values (spanlog's reserved
keys live in their own columns); ``events`` the JSON list of the span's events."""
