"""Run in its own process (Locust's gevent): GETs, then a POST, through the load driver's
HTTP client on one keep-alive connection; prints statuses, errors and stale retries as JSON.

Usage: python stale_probe.py PORT COUNT
"""

from __future__ import annotations

import json
import sys

from geventhttpclient import HTTPClient
from geventhttpclient.url import URL

from harness.load.user import count_socket_takes


def main(port: int, count: int) -> None:
    http = HTTPClient.from_url(URL(f"http://127.0.0.1:{port}/"), concurrency=1)
    taken = count_socket_takes(http)
    outcomes: list[int | str] = []
    retries = 0
    for method in ["GET"] * count + ["POST"]:
        before = taken()
        try:
            response = http.request(method, "/", body=b"x" if method == "POST" else b"")
            response.read()
            response.release()
            outcomes.append(response.status_code)
        except Exception as exc:  # the probe reports, the test judges
            outcomes.append(type(exc).__name__)
        retries += max(0, taken() - before - 1)
    print(json.dumps({"outcomes": outcomes, "stale_retries": retries}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
