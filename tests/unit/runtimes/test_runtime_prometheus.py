"""The Prometheus scrape config and the reading of its targets API."""

from __future__ import annotations

from mesh_runtime.runtimes.deployment import InstanceRecord
from mesh_runtime.runtimes.prometheus import (
    SIDECAR_JOB,
    TargetHealth,
    all_up,
    expected_targets,
    parse_targets,
    scrape_config,
    scrape_times,
)

INSTANCES = [
    InstanceRecord(
        service="catalog",
        instance="catalog-0",
        version="v1",
        app_port=1,
        inbound_port=2,
        outbound_port=3,
        admin_port=4,
    ),
    InstanceRecord(service="cart", instance="cart-0", version="v2", app_port=5),
]


def test_scrape_config_lists_every_sidecar_with_labels() -> None:
    """One sidecar job, 1s interval, each admin address labelled instance/service/version."""
    config = scrape_config(INSTANCES)
    assert config["global"] == {"scrape_interval": "1s", "scrape_timeout": "900ms"}
    (job,) = config["scrape_configs"]
    assert job["job_name"] == SIDECAR_JOB
    assert job["static_configs"] == [
        {
            "targets": ["127.0.0.1:4"],
            "labels": {"instance": "catalog-0", "service": "catalog", "version": "v1"},
        }
    ]
    assert expected_targets(config) == 1


def test_control_plane_job_when_it_serves_metrics() -> None:
    """A control plane address adds its own job."""
    config = scrape_config(INSTANCES, control_plane="127.0.0.1:9")
    assert [j["job_name"] for j in config["scrape_configs"]][1] == "meshproof-control-plane"
    assert expected_targets(config) == 2


def test_targets_are_up_only_when_all_expected_are_healthy() -> None:
    """Missing or unhealthy targets mean not up yet."""
    payload = {
        "data": {
            "activeTargets": [
                {"labels": {"job": "j", "instance": "a"}, "health": "up", "lastError": ""},
                {"labels": {"job": "j", "instance": "b"}, "health": "down", "lastError": "x"},
            ]
        }
    }
    targets = parse_targets(payload)
    assert targets[1] == TargetHealth(job="j", instance="b", health="down", last_error="x")
    assert not all_up(targets, 2)
    assert all_up(targets[:1], 1)
    assert not all_up(targets[:1], 2)


def test_scrape_times_are_the_sample_times_of_timestamp_up() -> None:
    """A `timestamp(up)` answer gives each target's last scrape in seconds; a malformed
    series is skipped."""
    payload = {
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"instance": "a"}, "value": [1796464805.5, "1796464804.25"]},
                {"metric": {"instance": "b"}, "value": [1796464805.5, "1796464805"]},
                {"metric": {"instance": "c"}, "value": []},
            ],
        }
    }
    assert scrape_times(payload) == [1796464804.25, 1796464805.0]
    assert scrape_times({}) == []
