"""Network namespaces the test creates, each a "machine" for a Locust worker.

Namespace `i` has one end of a veth pair, `10.<net>.<i+1>.2/24`; the other end stays in
the test's namespace as `10.<net>.<i+1>.1/24`. The master and the target listen on
`hub` (the first pair's host end); a namespace reaches it through its own pair's host end
(a local address of the test's namespace: nothing is forwarded). Only addresses the test
added are used; `close()` deletes every link and namespace it made, and is safe to call
twice. Needs root and `ip` (iproute2).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def usable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no ip (iproute2)"
    return None


def _free_net() -> int:
    used = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        net = random.randint(160, 250)
        if f"10.{net}." not in used:
            return net
    raise RuntimeError("no free 10.x.0.0/16 for the test's namespaces")


class Namespaces:
    def __init__(self, count: int) -> None:
        tag = f"{os.getpid() % 100000}{random.randint(0, 99):02d}"
        self.net = _free_net()
        self.names: list[str] = []
        self._links: list[str] = []
        try:
            for i in range(count):
                self._add(tag, i)
        except BaseException:
            self.close()
            raise

    @property
    def hub(self) -> str:
        """The test namespace's address the workers reach the master and target at."""
        return f"10.{self.net}.1.1"

    def _add(self, tag: str, i: int) -> None:
        name, host_end, ns_end = f"mpw{tag}-{i}", f"mpw{tag}h{i}", f"mpw{tag}n{i}"
        _ip("netns", "add", name)
        self.names.append(name)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", name)
        self._links.append(host_end)
        subnet = f"10.{self.net}.{i + 1}"
        _ip("addr", "add", f"{subnet}.1/24", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", name, "addr", "add", f"{subnet}.2/24", "dev", ns_end)
        _ip("-n", name, "link", "set", ns_end, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        if i > 0:
            _ip("-n", name, "route", "add", f"10.{self.net}.0.0/16", "via", f"{subnet}.1")

    def worker(self, i: int, master: str, home: Path) -> subprocess.Popen[bytes]:
        """`meshproof load-worker --master MASTER` in namespace `i`, with `home` (its own,
        fresh) as cwd and TMPDIR; its output in `home/worker.log`."""
        home.mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO_ROOT),
            "TMPDIR": str(home),
            "HOME": str(home),
        }
        command = ["ip", "netns", "exec", self.names[i], sys.executable, "-m", "harness.cli.main"]
        command += ["load-worker", "--master", master]
        with (home / "worker.log").open("wb") as log:
            return subprocess.Popen(
                command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def close(self) -> None:
        for link in self._links:
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=20)
        self._links.clear()
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self.names.clear()
