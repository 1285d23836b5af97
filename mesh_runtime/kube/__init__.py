"""meshproof's one Kubernetes API client (plain-dict objects, merge patches with
resourceVersion, SelfSubjectAccessReview), the resources it names, and its errors in
meshproof's exception tree. In mesh_runtime because the kubernetes runtime deploys through
it and mesh_runtime never imports the harness; the harness's fault and target code use it
too. `resources` and `errors` are pure; only `client` imports the `kubernetes` package.
"""
