"""FHIR at the edge: strict JSON and Parameters, incoming resources, searchsets, versions."""
