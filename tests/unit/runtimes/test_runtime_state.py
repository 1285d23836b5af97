"""The deployment state file: where it lives, atomic writes, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.errors import DeployError, InvalidInput
from mesh_runtime.runtimes.base import StateKeeper
from mesh_runtime.runtimes.deployment import (
    Deployment,
    ProcessRecord,
    load,
    remove,
    save,
    saved_deployments,
    state_file,
    state_root,
    work_dir,
)


def sample(tmp: Path) -> Deployment:
    return Deployment(
        topology_file="shop.yaml",
        ingress_url="http://127.0.0.1:1",
        work_dir=str(work_dir(tmp, "shop")),
        processes=[
            ProcessRecord(
                role="toxiproxy",
                name="toxiproxy",
                pid=123,
                ports={"port": 8474},
                create_time=1.5,
                command=["toxiproxy-server"],
            )
        ],
    )


def test_state_root_prefers_the_environment(tmp_path: Path) -> None:
    """$MESHPROOF_STATE_DIR wins; otherwise .meshproof under the current directory."""
    assert state_root({"MESHPROOF_STATE_DIR": str(tmp_path)}) == tmp_path
    assert state_root({}, cwd=tmp_path) == tmp_path / ".meshproof"


def test_paths_are_named_after_the_topology(tmp_path: Path) -> None:
    """The state file is deployments/<name>.json and the work dir work/<name>."""
    assert state_file(tmp_path, "shop") == tmp_path / "deployments" / "shop.json"
    assert work_dir(tmp_path, "shop") == tmp_path / "work" / "shop"
    assert sample(tmp_path).name == "shop"


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    """A saved deployment loads back equal, and no temporary file is left beside it."""
    path = state_file(tmp_path, "shop")
    save(sample(tmp_path), path)
    assert load(path) == sample(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == ["shop.json"]
    assert saved_deployments(tmp_path) == [path]


def test_missing_state_file_is_a_deploy_error(tmp_path: Path) -> None:
    """Loading a state file that is not there says nothing is up."""
    with pytest.raises(DeployError, match="nothing is up"):
        load(tmp_path / "deployments" / "shop.json")


def test_damaged_state_file_is_a_deploy_error(tmp_path: Path) -> None:
    """A state file that is not a Deployment gives one line, not a traceback."""
    path = tmp_path / "shop.json"
    path.write_text('{"topology_file": 3}')
    with pytest.raises(DeployError, match="not a meshproof state file"):
        load(path)


def test_remove_is_quiet_when_already_gone(tmp_path: Path) -> None:
    """Removing a state file twice is not an error."""
    path = state_file(tmp_path, "shop")
    save(sample(tmp_path), path)
    remove(path)
    remove(path)
    assert not path.exists()


def test_process_lookup_names_the_known_processes(tmp_path: Path) -> None:
    """Asking for an unknown process lists the ones there are."""
    deployment = sample(tmp_path)
    assert deployment.process("toxiproxy").pid == 123
    with pytest.raises(InvalidInput, match="known: toxiproxy"):
        deployment.process("catalog-9")


def test_a_binary_state_file_is_one_deploy_error(tmp_path: Path) -> None:
    """A state file that is not UTF-8 text is 'not a meshproof state file', no traceback."""
    path = tmp_path / "shop.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DeployError, match="not a meshproof state file"):
        load(path)


def recorded_up(tmp: Path, failure: BaseException | None, said: list[str]) -> Deployment:
    """Carry `sample` out through StateKeeper._recorded_up, the body raising `failure`;
    progress lines and "undo" go to `said`."""
    keeper = StateKeeper(state_root=tmp, progress=said.append)
    deployment = sample(tmp)
    with keeper._recorded_up(deployment, lambda: said.append("undo"), "stopping it"):
        assert load(keeper.state_file("shop")) == deployment  # saved before anything starts
        deployment.processes.clear()
        if failure is not None:
            raise failure
    return deployment


def test_recorded_up_saves_the_state_file_before_and_after(tmp_path: Path) -> None:
    """A carried-out up leaves the deployment as it ended in its state file, nothing undone."""
    said: list[str] = []
    deployment = recorded_up(tmp_path, None, said)
    assert said == []
    assert load(state_file(tmp_path.resolve(), "shop")) == deployment
    assert deployment.processes == []


@pytest.mark.parametrize(
    "failure", [DeployError("catalog-0: not ready"), KeyboardInterrupt(), SystemExit(143)]
)
def test_recorded_up_undoes_and_lets_meshproofs_errors_through(
    tmp_path: Path, failure: BaseException
) -> None:
    """A failed up says so, undoes what was started and raises the error as it is: an
    interrupt, or an exit (SIGTERM in a program that unwinds on it), is no failed up that a
    caller might try again."""
    said: list[str] = []
    with pytest.raises(type(failure)) as raised:
        recorded_up(tmp_path, failure, said)
    assert raised.value is failure
    assert said == ["failed; stopping it", "undo"]


def test_recorded_up_makes_another_error_one_deploy_error(tmp_path: Path) -> None:
    """An error not meshproof's becomes DeployError `<topology>: up failed: <error>`."""
    said: list[str] = []
    with pytest.raises(DeployError, match=r"^shop: up failed: boom$") as raised:
        recorded_up(tmp_path, OSError("boom"), said)
    assert isinstance(raised.value.__cause__, OSError)
    assert said == ["failed; stopping it", "undo"]
