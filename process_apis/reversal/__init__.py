"""Reversal and reclassification: a posting found by its correlation, reversed, and posted again correctly.

``flows`` holds the ``reversal`` flow (locate the original, reverse it in the ERP, post the
corrected allocation, record what was done) and the reallocation rules; ``api`` the process
API ``/process/reversals/v1``.
"""
