"""Per-service bootstrap credentials and the deployment's secret files, without sockets."""

from __future__ import annotations

from pathlib import Path

from mesh_runtime.control.credentials import credential_holder, mint_credential
from mesh_runtime.runtimes.deployment import InstanceRecord
from mesh_runtime.runtimes.docker.compose import compose_secrets, is_secret
from mesh_runtime.runtimes.plan import PlanFiles
from mesh_runtime.runtimes.workdir import DeploymentSecrets, secret_files, write_secret_files

SECRET = "deployment-secret-0123456789"


def record(service: str, instance: str, *, mesh: bool = True) -> InstanceRecord:
    ports = (2, 3, 4) if mesh else (None, None, None)
    return InstanceRecord(
        service=service,
        instance=instance,
        version="v1",
        app_port=1,
        inbound_port=ports[0],
        outbound_port=ports[1],
        admin_port=ports[2],
    )


def test_a_credential_proves_its_own_service() -> None:
    """The credential minted for catalog proves catalog, and cart's proves cart."""
    assert credential_holder(SECRET, mint_credential(SECRET, "catalog")) == "catalog"
    assert credential_holder(SECRET, mint_credential(SECRET, "cart")) == "cart"
    assert credential_holder(SECRET, mint_credential(SECRET, "a.b-c")) == "a.b-c"


def test_credentials_differ_per_service_and_per_secret() -> None:
    """Two services, or two secrets, never share a credential."""
    catalog = mint_credential(SECRET, "catalog")
    assert catalog != mint_credential(SECRET, "cart")
    assert catalog != mint_credential("another-secret", "catalog")
    assert mint_credential(SECRET, "catalog") == catalog


def test_a_credential_renamed_to_another_service_proves_nothing() -> None:
    """Swapping the service part of catalog's credential for cart does not make cart's."""
    mac = mint_credential(SECRET, "catalog").rpartition(".")[2]
    assert credential_holder(SECRET, f"cart.{mac}") is None


def test_forged_and_malformed_credentials_prove_nothing() -> None:
    """Another secret's credential, the secret itself, a tampered MAC, empty or dotless
    text and non-ASCII text prove no service."""
    good = mint_credential(SECRET, "catalog")
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    for presented in (
        mint_credential("another-secret", "catalog"),
        SECRET,
        tampered,
        "",
        "catalog",
        ".abc",
        "catalog.",
        "catalog.\u00e9\u00e9",
    ):
        assert credential_holder(SECRET, presented) is None, presented


def test_secret_files_hand_each_sidecar_its_services_credential() -> None:
    """Each sidecar's file holds its own service's credential; the admin token and the
    bootstrap secret have files of their own."""
    files = PlanFiles(Path("/w/shop"))
    keys = DeploymentSecrets("control", "admin", SECRET)
    texts = secret_files(files, [record("catalog", "catalog-0"), record("cart", "cart-0")], keys)
    assert texts[files.control_token] == "control"
    assert texts[files.admin_token] == "admin"
    assert texts[files.bootstrap_secret] == SECRET
    assert credential_holder(SECRET, texts[files.credential("catalog-0")]) == "catalog"
    assert credential_holder(SECRET, texts[files.credential("cart-0")]) == "cart"
    assert len(texts) == 5


def test_no_mesh_deployments_write_only_the_control_token() -> None:
    """Without sidecars there is no admin token, bootstrap secret or credential."""
    files = PlanFiles(Path("/w/shop"))
    keys = DeploymentSecrets("control", "admin", SECRET)
    texts = secret_files(files, [record("catalog", "catalog-0", mesh=False)], keys)
    assert texts == {files.control_token: "control"}


def test_secret_files_are_owner_only(tmp_path: Path) -> None:
    """Every secret file is written 0600, also over an existing world-readable file."""
    existing = tmp_path / "admin-token"
    existing.write_text("old")
    existing.chmod(0o644)
    write_secret_files({existing: "new", tmp_path / "credentials" / "catalog-0": "c"})
    assert existing.read_text() == "new\n"
    for path in (existing, tmp_path / "credentials" / "catalog-0"):
        assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "credentials").stat().st_mode & 0o077 == 0


def test_generated_secrets_are_random_and_never_in_a_repr() -> None:
    """Two deployments get different secrets, and a repr shows none of them."""
    one, two = DeploymentSecrets.generate(), DeploymentSecrets.generate()
    assert len({one.control_token, one.admin_token, one.bootstrap_secret}) == 3
    assert one.admin_token != two.admin_token
    assert one.admin_token not in repr(one) and one.bootstrap_secret not in repr(one)


def test_a_compose_render_derives_its_secrets_from_the_control_token() -> None:
    """The same control token gives the same admin token and bootstrap secret, distinct
    from it; the secret files are the ones a render makes owner-only."""
    keys = compose_secrets("token")
    assert keys == compose_secrets("token")
    assert len({keys.control_token, keys.admin_token, keys.bootstrap_secret}) == 3
    assert compose_secrets("other").admin_token != keys.admin_token
    secret = ("shop/control-token", "shop/admin-token", "shop/credentials/cart-0", "shop/ca/x")
    assert all(is_secret(name) for name in secret)
    assert not any(is_secret(n) for n in ("shop/mesh-config.json", "shop.compose.yaml"))
