"""Wire-level rules every part shares: error codes, strict JSON, canonical JSON, JOSE."""
