"""budget: reservations per budget line, and one lock row per line

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('budget_line_locks',
    sa.Column('budget_line_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('budget_line_id', name=op.f('pk_budget_line_locks'))
    )
    op.create_table('budget_reservations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('requisition_id', sa.String(length=64), nullable=False),
    sa.Column('budget_line_id', sa.String(length=64), nullable=False),
    sa.Column('company_code', sa.String(length=10), nullable=False),
    sa.Column('cost_center', sa.String(length=32), nullable=False),
    sa.Column('fiscal_year', sa.Integer(), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=22, scale=4).with_variant(sa.String(length=40), 'sqlite'),
              nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('purchase_order_id', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('correlation_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('converted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_reservations'))
    )
    with op.batch_alter_table('budget_reservations', schema=None) as batch_op:
        batch_op.create_index('ix_budget_reservations_line_status', ['budget_line_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_budget_reservations_requisition_id'), ['requisition_id'], unique=False)



def downgrade() -> None:

    with op.batch_alter_table('budget_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_budget_reservations_requisition_id'))
        batch_op.drop_index('ix_budget_reservations_line_status')

    op.drop_table('budget_reservations')
    op.drop_table('budget_line_locks')
