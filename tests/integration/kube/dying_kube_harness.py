"""A harness stand-in for the Kubernetes recover test: it applies an istio_fault and a
deployment_scale through the API server, recording them in a registered fault ledger,
prints APPLIED, and waits to be SIGKILLed.

    python dying_kube_harness.py STATE_ROOT LEDGER_FILE KUBECONFIG NAMESPACE VS DEPLOYMENT
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.faults.kube import DeploymentScaleInjector, IstioFaultInjector
from harness.faults.kube_place import KubeLogin, KubePlace
from harness.spec.kube_faults import DeploymentScaleFault, IstioFaultFault
from mesh_runtime.kube.client import KubeClient
from tests.integration.faults.dying import apply_and_wait


def main(args: list[str]) -> None:
    state_root, ledger_file, kubeconfig = Path(args[0]), Path(args[1]), Path(args[2])
    namespace, virtual_service, deployment = args[3:6]
    login = KubeLogin(kubeconfig=kubeconfig, context="admin")
    place = KubePlace(
        login=login,
        namespace=namespace,
        run="dying-run",
        kube=KubeClient.connect(kubeconfig, "admin"),
    )
    abort = IstioFaultFault.model_validate(
        {
            "name": "catalog-abort",
            "kind": "istio_fault",
            "target": "catalog",
            "virtual_service": virtual_service,
            "params": {"abort": {"httpStatus": 503, "percentage": 10}},
        }
    )
    scale = DeploymentScaleFault.model_validate(
        {
            "name": "catalog-down",
            "kind": "deployment_scale",
            "target": deployment,
            "params": {"replicas": 0},
        }
    )
    injectors = (IstioFaultInjector(abort, place), DeploymentScaleInjector(scale, place))
    apply_and_wait(state_root, ledger_file, injectors)


if __name__ == "__main__":
    main(sys.argv[1:])
