"""The kubernetes runtime: the reference mesh as pods, Services, ConfigMaps and Secrets.

manifests.py   the docker runtime's ContainerPlan as Kubernetes objects (pure), made of:
  meta.py      every object's metadata and labels; the names Kubernetes accepts
  configs.py   ConfigMaps and Secrets (the files containers mount), the state ConfigMap
  services.py  the Services (address owners, one per topology service on port 80)
  workloads.py the Deployments: instance pods (app + sidecar) and the parts' pods
prometheus.py  Prometheus with Kubernetes service discovery, its RBAC (pure)
runtime.py     KubernetesRuntime: up, status, down through mesh_runtime.kube's client
"""
