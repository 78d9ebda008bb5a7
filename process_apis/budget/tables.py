"""Tables of the budget check: reservations per budget line, and one lock row per line.

They share the policies' ``MetaData`` so one Alembic history creates every table; the
migration ``0003_budget`` creates these.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from policies.tables import UTCDateTime, metadata

__all__ = ["ExactAmount", "budget_line_locks", "budget_reservations"]


class ExactAmount(sa.types.TypeDecorator[Decimal]):
    """A decimal amount stored exactly on every backend, never as a binary float.

    PostgreSQL keeps it as ``NUMERIC(22, 4)`` (every canonical ``Money`` amount fits, see
    ``system_apis.canonical.money.MAX_AMOUNT``). SQLite has no exact decimal type (its
    ``NUMERIC`` affinity rounds through a double), so there the amount is the decimal's text.
    """

    impl = sa.Numeric(22, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """Text on SQLite, ``NUMERIC(22, 4)`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(22, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Refuse anything but a finite Decimal (or int); plain notation on SQLite."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
            raise TypeError(f"an amount must be a Decimal, not {type(value).__name__}")
        value = Decimal(value)
        if not value.is_finite():
            raise ValueError(f"an amount must be finite, got {value}")
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Give back a Decimal, whatever the driver returned."""
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


budget_reservations = sa.Table(
    "budget_reservations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("requisition_id", sa.String(64), nullable=False, index=True),
    sa.Column("budget_line_id", sa.String(64), nullable=False),
    sa.Column("company_code", sa.String(10), nullable=False),
    sa.Column("cost_center", sa.String(32), nullable=False),
    sa.Column("fiscal_year", sa.Integer, nullable=False),
    sa.Column("period", sa.Integer, nullable=False),
    sa.Column("amount", ExactAmount, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("purchase_order_id", sa.String(64), nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("released_at", UTCDateTime, nullable=True),
    sa.Column("converted_at", UTCDateTime, nullable=True),
    sa.Index("ix_budget_reservations_line_status", "budget_line_id", "status"),
)

budget_line_locks = sa.Table(
    "budget_line_locks",
    metadata,
    sa.Column("budget_line_id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
