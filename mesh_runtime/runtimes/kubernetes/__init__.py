"""The kubernetes runtime: the reference mesh as pods, Services, ConfigMaps and Secrets.

manifests.py   the docker runtime's ContainerPlan as Kubernetes objects (pure)
prometheus.py  Prometheus with Kubernetes service discovery, its RBAC (pure)
runtime.py     KubernetesRuntime: up, status, down through mesh_runtime.kube's client
"""
