"""The node's repositories: SQL on the unit of work that the use cases call."""
