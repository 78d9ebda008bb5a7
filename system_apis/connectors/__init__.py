"""connectors tier: see DESIGN.md §1."""
