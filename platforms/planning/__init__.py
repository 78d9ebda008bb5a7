"""Planning sandbox: budgets with versions, budget lines and consumption (Concur Budget v4 shape)."""
