"""system_apis tier: see DESIGN.md §1."""
