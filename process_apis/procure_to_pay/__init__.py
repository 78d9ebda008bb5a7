"""Procure to pay: PO commitments in planning, supplier invoices three-way matched and posted in the ERP.

``flows`` holds the two flows (``purchase-order-commitment`` per purchase order,
``procure-to-pay`` per supplier invoice) and their triggers on the procurement platform's
``purchase_order.issued`` and ``invoice.submitted`` events; ``matching`` the three-way match
and its tolerances; ``api`` the process API ``/process/procure-to-pay/v1``.
"""
