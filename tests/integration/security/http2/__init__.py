"""HTTP/2 and gRPC through a real sidecar pair: a package, so that conftest.py's
package-scoped deployment is shared by its modules."""
