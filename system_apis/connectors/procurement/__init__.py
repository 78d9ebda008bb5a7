"""Connector to the procurement platform (Coupa Core API dialect)."""
