"""FHIR R4 (4.0.1) interoperability server: REST API, storage, search and validation on PostgreSQL."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
