"""Treasury sandbox: a Kyriba-like payments API (accounts, obligations, runs, confirmations)."""
