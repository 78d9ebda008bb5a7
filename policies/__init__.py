"""The shared policy chain of DESIGN.md §3; imports no tier."""
