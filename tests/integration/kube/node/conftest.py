"""The node tests' shared fixtures, package-scoped so that this folder's modules share one
cluster and one shop (a package: `__init__.py`):

- `local_node` (overriding tests/fixtures/node.py's module-scoped one): the node starts once
  for all of them (about three minutes on a busy host), and stops after the last;
- `shop`: `meshproof up shop --runtime kubernetes` on it, once.

The modules run in file-name order, which is the order of the one module they were:
test_kube_node_shop.py (the shop up, traced, scraped, faulted), test_kube_node_shop_policies.py
(policies kept and enforced, ending with `down`), test_kube_node_shop_runs.py (`meshproof run`
of experiments in namespaces of their own, after the shop is down: one shop at a time)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.cli.main import main
from harness.kube.localnode import LocalNode
from tests.fixtures.node import started_node
from tests.integration.kube.node.shopkit import SHOP, ShopOnNode, new_namespace


@pytest.fixture(scope="package")
def local_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """A Ready node `meshproof-node` with cluster DNS, for every module here."""
    with started_node(tmp_path_factory) as node:
        yield node


@pytest.fixture(scope="package")
def shop(local_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopOnNode]:
    """`meshproof up shop --runtime kubernetes` on the node (waiting for readiness), timed."""
    namespace = new_namespace(local_node, "node")
    state_dir = tmp_path_factory.mktemp("node-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MESHPROOF_STATE_DIR", str(state_dir))
        flags = ["--kubeconfig", str(local_node.kubeconfig), "--namespace", namespace]
        began = time.monotonic()
        code = main(["up", str(SHOP), "--runtime", "kubernetes", *flags])
        shop = ShopOnNode(local_node, namespace, state_dir, code, time.monotonic() - began)
        try:
            yield shop
        finally:
            if (state_dir / "deployments" / "shop.json").exists():
                main(["down", "shop"])
