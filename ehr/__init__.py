"""Driving adapters: EHRs feed the node through these (interface, mappings, batch files, FHIR pull)."""
