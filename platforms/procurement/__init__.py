"""Procurement sandbox in the Coupa Core API dialect (``/api/...``, hyphenated fields, bare arrays)."""
