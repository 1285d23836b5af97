"""The sidecar's command line and config sources: bad input is one line, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh_runtime.errors import InvalidInput
from mesh_runtime.sidecar.__main__ import build_parser, main, options_from
from mesh_runtime.sidecar.config_reader import load_config_file
from mesh_runtime.sidecar.config_watch import parse_control_plane_url

PORTS = ["--inbound-port", "1", "--outbound-port", "2", "--app-port", "3", "--admin-port", "4"]


def test_arguments_become_options() -> None:
    """A full command line is turned into SidecarOptions."""
    args = build_parser().parse_args(
        [
            "--service",
            "catalog",
            "--instance",
            "catalog-0",
            *PORTS,
            "--config",
            "m.json",
            "--no-tracing",
            "--drain-timeout",
            "2s",
            "--tcp-outbound",
            "kv=5000",
            "--tcp-outbound",
            "db = 5001",
            "--h2-max-streams",
            "64",
            "--h2-max-resets",
            "50",
        ]
    )
    options = options_from(args)
    assert options.limits.h2_max_concurrent_streams == 64
    assert options.limits.h2_floods.resets_per_s == 50
    assert options.tcp_outbound == (("kv", 5000), ("db", 5001))
    assert options.config_file == Path("m.json")
    assert not options.tracing
    assert options.drain_timeout == 2.0


@pytest.mark.parametrize(
    "argv",
    [
        ["--service", "s", "--instance", "s-0", *PORTS],
        ["--service", "s", "--instance", "s-0", *PORTS, "--config", "a", "--control-plane", "b"],
        ["--service", "s", "--instance", "s-0", *PORTS[:-1], "70000", "--config", "a"],
        ["--service", "s", "--instance", "s-0", *PORTS, "--config", "a", "--drain-timeout", "x"],
        ["--service", "s", "--instance", "s-0", *PORTS, "--config", "a", "--otlp-endpoint", "x"],
        ["--service", "s", "--instance", "s-0", *PORTS, "--config", "a", "--tcp-outbound", "kv"],
        ["--service", "s", "--instance", "s-0", *PORTS, "--config", "a", "--tcp-outbound", "kv=0"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing config source, both sources, a bad port, a bad duration: one line, exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("mesh_runtime.sidecar: error:")


def test_otlp_base_url_gets_the_traces_path() -> None:
    """A bare OTLP base URL is completed with /v1/traces; a full one is kept."""
    base = ["--service", "s", "--instance", "s-0", *PORTS, "--config", "m.json"]
    parse = build_parser().parse_args
    bare = parse([*base, "--otlp-endpoint", "http://127.0.0.1:4318"])
    full = parse([*base, "--otlp-endpoint", "http://127.0.0.1:4318/custom"])
    assert bare.otlp_endpoint == "http://127.0.0.1:4318/v1/traces"
    assert full.otlp_endpoint == "http://127.0.0.1:4318/custom"


def test_missing_config_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --config that does not exist is reported in one line with exit code 2."""
    code = main(
        ["--service", "s", "--instance", "s-0", *PORTS, "--config", str(tmp_path / "absent.json")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "absent.json: no such file" in err
    assert "Traceback" not in err


def test_invalid_config_file_names_the_field(tmp_path: Path) -> None:
    """A MeshConfig with a bad field is an InvalidInput naming the field path."""
    path = tmp_path / "mesh.yaml"
    path.write_text("services:\n  catalog:\n    name: catalog\n    endpoints: [{instance: a}]\n")
    with pytest.raises(InvalidInput, match=r"services\.catalog\.endpoints\[0\]\.version"):
        load_config_file(path)


@pytest.mark.parametrize("url", ["127.0.0.1:80", "https://127.0.0.1:1", "http://", "http://h:x"])
def test_bad_control_plane_url_is_invalid_input(url: str) -> None:
    """Only http://HOST:PORT is accepted for --control-plane."""
    with pytest.raises(InvalidInput):
        parse_control_plane_url(url)


def test_control_plane_url_is_split() -> None:
    """http://127.0.0.1:7000 is host and port."""
    assert parse_control_plane_url("http://127.0.0.1:7000") == ("127.0.0.1", 7000)
