"""The comparison's YAML configuration: rules, defaults, fallbacks, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compare.config import load_compare_config
from mesh_runtime.errors import InvalidInput


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "compare.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_overrides_only_the_fields_it_gives(tmp_path: Path) -> None:
    """'10%' is a tolerance of 0.10; unspecified fields keep the defaults."""
    config = load_compare_config(
        write(
            tmp_path,
            "alpha: 0.01\nthresholds: {pass: 95, marginal: 80}\n"
            "metrics:\n  latency_ms: {tolerance: 10%}\n  sidecar_rss_mb: {enabled: false}\n",
        )
    )
    assert config.alpha == 0.01
    assert config.thresholds.pass_ == 95
    latency = config.rule("latency_ms")
    assert latency.tolerance == pytest.approx(0.10)
    assert latency.floor == 2.0 and latency.critical
    assert not config.rule("sidecar_rss_mb").enabled


def test_a_route_key_falls_back_to_its_metric(tmp_path: Path) -> None:
    """`latency_ms{route=x}` takes `latency_ms`'s rule, then its own overrides."""
    config = load_compare_config(
        write(
            tmp_path,
            'metrics:\n  latency_ms: {floor: 3}\n  "latency_ms{route=catalog}": {critical: false}\n',
        )
    )
    assert config.rule("latency_ms{route=root}").floor == 3
    catalog = config.rule("latency_ms{route=catalog}")
    assert catalog.floor == 3 and not catalog.critical


def test_an_unknown_metric_is_one_clear_error(tmp_path: Path) -> None:
    """A typo in a metric name names the file, the field and the known metrics."""
    with pytest.raises(InvalidInput) as caught:
        load_compare_config(write(tmp_path, "metrics:\n  latncy_ms: {tolerance: 5%}\n"))
    assert "compare.yaml" in str(caught.value)
    assert "latncy_ms" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_direction_is_rejected(tmp_path: Path) -> None:
    """direction must be increase, decrease or either."""
    with pytest.raises(InvalidInput, match=r"metrics\.error_rate\.direction"):
        load_compare_config(write(tmp_path, "metrics:\n  error_rate: {direction: up}\n"))


def test_no_file_means_defaults() -> None:
    """Without --config the built-in rules apply."""
    config = load_compare_config(None)
    assert config.rule("error_rate").critical
    assert config.rule("trace_completeness").direction == "decrease"


def test_a_negative_seed_is_one_clear_error(tmp_path: Path) -> None:
    """numpy takes no negative seed: the file's field is refused, not a traceback later."""
    with pytest.raises(InvalidInput, match=r"compare\.yaml: seed: .*greater than or equal to 0"):
        load_compare_config(write(tmp_path, "seed: -1\n"))
