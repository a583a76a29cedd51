"""The demo federation and its synthetic families (no real person's data)."""
