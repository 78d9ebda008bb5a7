"""The governed planning system API (``/system/planning/v1``)."""
