"""Payment status sync: a bank confirmation applied in the ERP and reported as paid at the source.

``flows`` holds the flow (load the confirmed run, check each payment against its source
document, ERP payment, paid status to expense or procurement) and the triggers on the
treasury platform's ``payment.confirmed`` and ``payment.rejected`` events; ``api`` the
process API ``/process/payments/v1``.
"""
