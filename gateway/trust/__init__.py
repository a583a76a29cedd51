"""Trust between nodes: pinned partner keys, the partner client, signed summary Bundles."""
