"""The governed procurement system API (``/system/procurement/v1``)."""
