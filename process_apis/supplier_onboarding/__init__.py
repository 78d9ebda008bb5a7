"""Supplier onboarding: an approved procurement supplier, checked and created once in the ERP.

``flows`` holds the flow (validate, duplicate check, ERP create, write-back) and the trigger
on the procurement platform's ``supplier.approved`` event; ``api`` the process API
``/process/supplier-onboarding/v1``; ``matching`` the fuzzy name comparison.
"""
