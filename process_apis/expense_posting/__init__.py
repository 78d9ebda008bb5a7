"""Expense posting: approved expense reports posted to the ERP, owed in treasury, marked posted.

The process API (``api``), its flows (``flows``) and its coding rules (``mappings``).
"""
