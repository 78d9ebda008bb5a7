"""Tables of the flow engine: instances, their timeline, the outbox, inbound events, watermarks.

They share the policies' ``MetaData`` so one Alembic history creates every table; the
migration ``0002_flows`` creates these.
"""

from __future__ import annotations

import sqlalchemy as sa

from policies.tables import UTCDateTime, metadata

__all__ = ["flow_instances", "flow_outbox", "flow_schedules", "flow_timeline", "inbound_events", "watermarks"]

_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

flow_instances = sa.Table(
    "flow_instances",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=False, index=True),
    sa.Column("reason", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("flow", "key", name="uq_flow_instances_flow_key"),
    sa.Index("ix_flow_instances_status_due_at", "status", "due_at"),
)

flow_timeline = sa.Table(
    "flow_timeline",
    metadata,
    sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("instance_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("step", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("correlation_id", sa.String(128), nullable=False, index=True),
)

flow_outbox = sa.Table(
    "flow_outbox",
    metadata,
    sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.String(64), nullable=True),
    sa.Column("flow", sa.String(64), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("dispatched_at", UTCDateTime, nullable=True, index=True),
)

inbound_events = sa.Table(
    "inbound_events",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("webhook_id", sa.String(200), primary_key=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False, index=True),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("instance_id", sa.String(64), nullable=True),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

flow_schedules = sa.Table(
    "flow_schedules",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
