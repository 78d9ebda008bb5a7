"""platforms tier: see DESIGN.md §1."""
