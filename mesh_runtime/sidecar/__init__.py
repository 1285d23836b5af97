"""The sidecar: the data plane of the reference mesh."""
