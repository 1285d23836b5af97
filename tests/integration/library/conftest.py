"""The engine tests' fixtures (private state root taken down afterwards, harness processes
killed by process group), reused as they are."""

from tests.integration.engine.conftest import harness, state_dir

__all__ = ["harness", "state_dir"]
