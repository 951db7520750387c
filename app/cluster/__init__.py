"""Pulse as a cluster on this machine's loopback (`make cluster-up`, CONTRACT §11)."""
