"""The region: the operator's signed member list, a node's membership, the directory."""
