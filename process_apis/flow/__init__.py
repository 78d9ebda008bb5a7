"""flow tier: see DESIGN.md §1."""
