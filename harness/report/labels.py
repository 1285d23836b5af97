"""How the headline metrics are named for people (tiles, table headers, chart titles)."""

LABELS: dict[str, str] = {
    "rps": "RPS",
    "error_rate": "error rate",
    "p50_ms": "p50",
    "p90_ms": "p90",
    "p99_ms": "p99",
    "p999_ms": "p99.9",
    "corrected_p99_ms": "p99 corrected",
    "trace_completeness": "trace completeness",
    "sidecar_cpu_per_krps": "sidecar CPU / 1000 proxied RPS",
    "sidecar_rss_mb": "sidecar RSS",
    "retries_per_krequests": "retries / 1000 req",
    "ejections": "ejections",
    "overflows": "overflows",
}
