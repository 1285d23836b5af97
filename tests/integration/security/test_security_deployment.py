"""The secrets of a real `up` (local runtime): the admin token guards every sidecar's
/config_dump and /stats, each sidecar holds only its own service's credential, and no
secret leaks into a file, a log, a command line or `meshproof status --json`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from mesh_runtime.control.credentials import credential_holder
from mesh_runtime.runtimes.admin import admin_headers
from mesh_runtime.runtimes.deployment import Deployment
from mesh_runtime.runtimes.local import LocalRuntime
from mesh_runtime.runtimes.plan import PlanFiles
from mesh_runtime.sidecar.keygen import make_csr

pytestmark = pytest.mark.integration

SHOP = Path(__file__).resolve().parents[3] / "experiments" / "topologies" / "shop.yaml"
GUARDED = ("/config_dump", "/stats")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Deployment]]:
    """The shop up on the local runtime: its state root and deployment; down afterwards."""
    root = tmp_path_factory.mktemp("state")
    runtime = LocalRuntime(state_root=root, ready_timeout=60)
    deployment = runtime.up(SHOP)
    try:
        yield root, deployment
    finally:
        runtime.down(runtime.load(deployment.name))


def admin_urls(deployment: Deployment, path: str) -> list[str]:
    return [f"http://127.0.0.1:{r.admin_port}{path}" for r in deployment.instances]


def secret_files(deployment: Deployment) -> list[Path]:
    files = PlanFiles(Path(deployment.work_dir))
    owners = [files.admin_token, files.bootstrap_secret]
    return owners + [files.credential(r.instance) for r in deployment.instances]


def secrets_of(deployment: Deployment) -> dict[str, set[Path]]:
    """Each secret's text and the files allowed to hold it (a service's credential is in
    the file of each of its instances)."""
    owners: dict[str, set[Path]] = {}
    for path in secret_files(deployment):
        owners.setdefault(path.read_text().strip(), set()).add(path)
    return owners


def test_guarded_admin_endpoints_need_the_deployments_token(shop: tuple[Path, Deployment]) -> None:
    """/config_dump and /stats of every sidecar are 401 without or with a wrong token and
    200 with the deployment's; /ready and /metrics answer without one."""
    _, deployment = shop
    assert deployment.admin_token_file is not None
    headers = admin_headers(deployment.admin_token_file)
    wrong = {"Authorization": "Bearer not-the-token"}
    for path in GUARDED:
        for url in admin_urls(deployment, path):
            assert requests.get(url, timeout=5).status_code == 401, url
            assert requests.get(url, headers=wrong, timeout=5).status_code == 401, url
            assert requests.get(url, headers=headers, timeout=5).status_code == 200, url
    for path in ("/ready", "/metrics"):
        for url in admin_urls(deployment, path):
            assert requests.get(url, timeout=5).status_code == 200, url


def test_each_sidecar_holds_its_own_services_credential_and_certificate(
    shop: tuple[Path, Deployment],
) -> None:
    """Each sidecar's credential file proves its own service, and the certificate its
    /stats reports carries that service's SPIFFE ID."""
    _, deployment = shop
    files = PlanFiles(Path(deployment.work_dir))
    secret = files.bootstrap_secret.read_text().strip()
    headers = admin_headers(deployment.admin_token_file)
    for record in deployment.instances:
        credential = files.credential(record.instance).read_text().strip()
        assert credential_holder(secret, credential) == record.service
        url = f"http://127.0.0.1:{record.admin_port}/stats"
        stats = requests.get(url, headers=headers, timeout=5).json()
        principal = stats["security"]["certificate"]["principal"]
        assert principal.endswith(f"/sa/{record.service}"), (record.instance, principal)


def test_a_sidecars_credential_gets_no_certificate_for_another_service(
    shop: tuple[Path, Deployment],
) -> None:
    """catalog-0's credential file, shown to the deployment's CA for cart, is refused 403."""
    _, deployment = shop
    credential = PlanFiles(Path(deployment.work_dir)).credential("catalog-0").read_text().strip()
    csr = make_csr(ec.generate_private_key(ec.SECP256R1()), "cart").decode()
    answer = requests.post(
        f"{deployment.control_url}/v1/certificates",
        json={"csr": csr, "service": "cart", "instance": "cart-0"},
        headers={"Authorization": f"Bearer {credential}"},
        timeout=5,
    )
    assert answer.status_code == 403, answer.text


def test_secret_files_are_owner_only(shop: tuple[Path, Deployment]) -> None:
    """The admin token, the bootstrap secret and every credential file are 0600."""
    _, deployment = shop
    for path in secret_files(deployment):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_no_secret_leaks_into_files_logs_command_lines_or_status(
    shop: tuple[Path, Deployment],
) -> None:
    """After traffic, no secret is in any file of the work dir or state dir but its own
    file, in any process's command line, or in `meshproof status --json`."""
    root, deployment = shop
    for _ in range(20):
        assert requests.get(f"{deployment.ingress_url}/", timeout=10).status_code == 200
    secrets = secrets_of(deployment)
    status = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "status", "--json"],
        env={**os.environ, "MESHPROOF_STATE_DIR": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert '"processes"' in status.stdout
    for secret, own in secrets.items():
        where = [p for p in files_holding(root, secret) if p not in own]
        assert not where, f"the secret of {sorted(own)} found in {where}"
        assert secret not in status.stdout + status.stderr
        for record in deployment.processes:
            assert secret not in " ".join(psutil.Process(record.pid).cmdline()), record.name


def files_holding(root: Path, text: str) -> list[Path]:
    """Every file under `root` (work dirs, logs, state files) whose bytes contain `text`."""
    needle = text.encode()
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(path)
    return found
