"""flows: instances, timeline, outbox, inbound events, schedules, watermarks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:51:58.854612
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('flow_instances',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('flow', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_instances')),
    sa.UniqueConstraint('flow', 'key', name='uq_flow_instances_flow_key')
    )
    with op.batch_alter_table('flow_instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flow_instances_correlation_id'), ['correlation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flow_instances_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_flow_instances_status_due_at', ['status', 'due_at'], unique=False)

    op.create_table('flow_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=True),
    sa.Column('flow', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('input', sa.JSON(), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_outbox'))
    )
    with op.batch_alter_table('flow_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flow_outbox_dispatched_at'), ['dispatched_at'], unique=False)

    op.create_table('flow_schedules',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_flow_schedules'))
    )
    op.create_table('flow_timeline',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_timeline'))
    )
    with op.batch_alter_table('flow_timeline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flow_timeline_correlation_id'), ['correlation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flow_timeline_instance_id'), ['instance_id'], unique=False)

    op.create_table('inbound_events',
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('webhook_id', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('instance_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('platform', 'webhook_id', name=op.f('pk_inbound_events'))
    )
    with op.batch_alter_table('inbound_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_events_received_at'), ['received_at'], unique=False)

    op.create_table('watermarks',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_watermarks'))
    )



def downgrade() -> None:

    op.drop_table('watermarks')
    with op.batch_alter_table('inbound_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_events_received_at'))

    op.drop_table('inbound_events')
    with op.batch_alter_table('flow_timeline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flow_timeline_instance_id'))
        batch_op.drop_index(batch_op.f('ix_flow_timeline_correlation_id'))

    op.drop_table('flow_timeline')
    op.drop_table('flow_schedules')
    with op.batch_alter_table('flow_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flow_outbox_dispatched_at'))

    op.drop_table('flow_outbox')
    with op.batch_alter_table('flow_instances', schema=None) as batch_op:
        batch_op.drop_index('ix_flow_instances_status_due_at')
        batch_op.drop_index(batch_op.f('ix_flow_instances_created_at'))
        batch_op.drop_index(batch_op.f('ix_flow_instances_correlation_id'))

    op.drop_table('flow_instances')

