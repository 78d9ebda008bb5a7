"""ERP system API (/system/erp/v1) over the ERP connector."""
