"""Run in its own process (Locust's gevent): GETs, then a POST, through the load driver's
HTTP client on one keep-alive connection; prints statuses, errors and stale retries as JSON.

Usage: python stale_probe.py PORT COUNT
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402

from harness.load.http1_client import KeptConnection  # noqa: E402


def main(port: int, count: int) -> None:
    http = KeptConnection("127.0.0.1", port, timeout=10.0)
    outcomes: list[int | str] = []
    for method in ["GET"] * count + ["POST"]:
        try:
            status, _ = http.request(method, "/", {}, b"x" if method == "POST" else b"")
            outcomes.append(status)
        except Exception as exc:  # the probe reports, the test judges
            outcomes.append(type(exc).__name__)
    print(json.dumps({"outcomes": outcomes, "stale_retries": http.stale_retries}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
