"""A tiny HTTP server the supervisor tests run as a real process.

    python toy_server.py PORT [--child] [--fail] [--slow]

`/ready` and `/_health` answer 200; `--child` also starts a sleeping child in the same process group;
`--fail` prints a message and exits 3 before listening; `--slow` never listens.
"""

from __future__ import annotations

import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path in ("/ready", "/_health") else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> int:
    port = int(sys.argv[1])
    flags = set(sys.argv[2:])
    print(f"toy server starting on {port}", flush=True)
    if "--fail" in flags:
        print("toy server: cannot start, giving up", flush=True)
        return 3
    if "--slow" in flags:
        for _ in range(600):
            time.sleep(0.1)
        return 0
    if "--child" in flags:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
