"""The reference mesh: sidecar data plane, control plane, sample services, runtimes."""

__version__ = "0.1.0"
