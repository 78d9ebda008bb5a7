"""The governed treasury system API (``/system/treasury/v1``)."""
