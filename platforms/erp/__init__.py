"""The ERP sandbox: SAP S/4HANA Cloud OData V2 (business partners, cost centers, GL, invoices, payments)."""
