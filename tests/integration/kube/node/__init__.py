"""The tests on a single-node cluster: a package, so that conftest.py's package-scoped
fixtures (the node, the shop) are shared by its modules."""
