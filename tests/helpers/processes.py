"""Real processes for the fault tests: servers and CLI commands on loopback, their process
trees, RSS, and bounded waits. Nothing here kills anything it did not start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "pipeline"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PIPELINE_CACHE_DIR": str(CACHE_DIR), "PYTHONPATH": str(REPO_ROOT)}
    for name in ("API_KEY", "DATABASE_URL"):
        env.pop(name, None)
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    """The ``pipeline`` command line of this checkout."""
    return [sys.executable, str(REPO_ROOT / "cli.py"), *args]


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (scanning /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def workers_of(pid: int) -> set[int]:
    """The multiprocessing workers (``spawn_main``) among ``pid``'s descendants."""
    found = set()
    for child in children_of(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    api_key: str | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/audio/speech/stream/ws"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def status(self) -> dict[str, Any]:
        return httpx.get(self.url + "/api/status", headers=self.headers(), timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_server(log: Path, env: dict[str, str], log_level: str = "warning", timeout_s: float = 120.0) -> Server:
    """``pipeline serve`` on a free loopback port, ready (engine loaded) when this returns."""
    port = free_port()
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            cli("serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", log_level),
            cwd=REPO_ROOT,
            env=base_env(**env),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, env.get("API_KEY"))

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            return httpx.get(server.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout_s, "the server to be ready", interval_s=0.3)
    except BaseException:
        server.stop()
        raise
    return server
