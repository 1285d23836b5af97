"""What each Kubernetes fault kind writes, as pure functions: object in, merge patch out.

One module per API family: `istio` (VirtualService, DestinationRule), `linkerd` (retry
and timeout annotations, HTTPRoute backendRefs), `consul` (config entries), `workloads`
(pods and Deployments). Each takes the object as the API server sent it (a dict) and the
fault's validated params, and returns the JSON merge patch for `harness.kube.changes`;
nothing here talks to a server. A merge patch replaces a list whole, so a change to one
route carries the object's whole list of routes, the others unchanged.
"""
