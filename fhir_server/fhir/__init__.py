"""FHIR resource helpers shared by every layer: JSON, instants, bundles, ``_summary``/``_elements``."""
