"""Finrail gateway: assembly, settings, storage wiring, the CLI (DESIGN.md §1)."""
