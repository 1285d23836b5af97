"""The HTTP/2 tests' deployment (h2mesh.py), package-scoped: started once for all the
modules here (a package: `__init__.py`), stopped after the last. They run in file-name
order: connections, grpc, grpc_streams (its last flaky test kills shopb-0), hostile (whose
last test reads every sidecar log for a traceback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.security.http2.h2mesh import H2Mesh, started_mesh


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[H2Mesh]:
    with started_mesh(tmp_path_factory) as deployment:
        yield deployment
