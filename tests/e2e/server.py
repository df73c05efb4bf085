"""Runs `retrain serve` (or `retrain worker`) as a real process on a free loopback port, as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.cli import RETRAIN

TOKENS = {"ingest": "tok-ingest", "reviewer": "tok-reviewer", "operator": "tok-operator", "reader": "tok-reader"}


def tokens_setting() -> str:
    """RETRAIN_API__TOKENS: one token per role, named after it; the settings hold only the sha256."""
    return json.dumps([{"name": role, "sha256": hashlib.sha256(token.encode()).hexdigest(), "roles": [role]}
                       for role, token in TOKENS.items()])


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    return {**env, "RETRAIN_API__TOKENS": tokens_setting(), **settings}


class Server:
    """`retrain serve` in its own process; its stderr (the structured log) is kept in a file beside the home."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"serve-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(RETRAIN), "--home", str(home), "serve", "--port", str(self.port), *args],
                stdout=log, stderr=subprocess.STDOUT, env=env or service_env(), cwd=home.parent,
            )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def stored_rows(home: Path) -> dict[str, Any]:
    """What the feedback store holds, table by table, to compare before and after a refused request."""
    with sqlite3.connect(home / "feedback.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}  # noqa: S608


def stored_prediction_ids(home: Path) -> set[str]:
    with sqlite3.connect(home / "feedback.db") as db:
        return {row[0] for row in db.execute("SELECT prediction_id FROM predictions")}


@dataclass(frozen=True)
class Process:
    """A process seen in /proc: its id, its parent's, and its command line."""

    pid: int
    ppid: int
    argv: tuple[str, ...]

    def alive(self) -> bool:
        """Still running (a zombie, exited but not yet reaped, does not count)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_of(home: Path, command: str) -> list[Process]:
    """The live processes running `command` (e.g. `worker`) on this home: `retrain --home H worker` or serve's
    `python -m adapters.cli.main --home H worker`. Linux only (reads /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = tuple((entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1])
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z" and command in argv and str(home) in argv:
            found.append(Process(int(entry.name), int(ppid), argv))
    return found


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.1) -> Any:
    """The first truthy result of `check`, polled every `every` seconds, or an AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
