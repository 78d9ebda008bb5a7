"""Flow operations: the finance exception and dead-letter queues, traces and KPIs of every flow."""
