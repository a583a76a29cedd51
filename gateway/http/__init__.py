"""The HTTP edge: the API blueprints, OAuth, OperationOutcomes, OpenAPI and the CapabilityStatement."""
