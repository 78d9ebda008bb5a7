"""Connector to SAP S/4HANA Cloud (OData V2) or its sandbox: wire format, mapping, client."""
