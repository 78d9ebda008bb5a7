"""Master data publish: ERP dimensions pushed to procurement and expense as deltas, and reconciled.

``flows`` holds the publish and reconciliation flows and their schedules; ``diff`` the delta
between the ERP and one platform; ``api`` the process API ``/process/master-data/v1``.
"""
