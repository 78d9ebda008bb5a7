"""Event intake: signed platform webhooks in, stored durably and dispatched to flows."""
