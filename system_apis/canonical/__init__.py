"""canonical tier: see DESIGN.md §1."""
