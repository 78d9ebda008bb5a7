"""Budget check process API: available budget per line, and reservations that hold it."""
