"""SPEC section 10, row 3: `POST /v1/predict` with 8x8 PNG digits, every prediction logged durably.

A real `retrain serve` on loopback and a real HTTP/1.1 client (keep-alive connections over asyncio streams, so
the client costs little of the two cores). Measured in the same run: the in-process batch-1 inference rate of the
same model (decode + transform + forward, what each request needs at least), the ceiling.

Targets: >= 1,500 requests/s saturated; p99 <= 20 ms at 500 requests/s (open loop: latency counts from the moment
a request was due, so a slow server cannot hide its queue).
Two configurations are measured: one server process, and one per core (`retrain serve --processes N`).
Run: .venv/bin/python -m benchmarks.serve_bench [--seconds S] [--connections N] [--processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapters.logs import configure_logging
from benchmarks.common import home_with_v1


def digit_pngs() -> list[bytes]:
    """The bundled digits as 8x8 grey PNGs, as a client would send them."""
    from PIL import Image

    from adapters.torch.datasets import digits_images

    images = []
    for pixels in digits_images()[0]:
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def in_process_rate(home: Path, images: list[bytes], calls: int = 3000) -> float:
    """The ceiling: predictions per second of the same predictor, one image at a time, nothing logged."""
    from application.models import model_ref
    from application.settings import load_settings
    from bootstrap import Container, build_clock

    container = Container(load_settings(home=home), build_clock(None))
    ref = model_ref(container.ledger.version("v1"))
    predictor = container.predictor
    predictor.predict(ref, images[:50])  # load and warm up
    started = time.perf_counter()
    for index in range(calls):
        predictor.predict(ref, [images[index % len(images)]])
    return calls / (time.perf_counter() - started)


class Connection:
    """One keep-alive HTTP/1.1 connection; a request is pre-encoded bytes, a response is read by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def requests(images: list[bytes], count: int, port: int) -> list[bytes]:
    rng = random.Random(0)
    built = []
    for index in range(count):
        body = json.dumps({"image": base64.b64encode(images[index % len(images)]).decode(),
                           "user_ref": f"user-{rng.randrange(100_000)}", "image_type": "scan"}).encode()
        built.append(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (port, len(body), body))
    return built


async def saturate(port: int, bodies: list[bytes], connections: int, seconds: float) -> tuple[float, int, int]:
    """Closed loop: every connection sends as fast as answers come back. Requests/s, acknowledged, failed."""
    pool = [await Connection.open(port) for _ in range(connections)]
    ok = failed = 0
    deadline = time.perf_counter() + seconds

    async def run(connection: Connection, offset: int) -> None:
        nonlocal ok, failed
        index = offset
        while time.perf_counter() < deadline:
            status = await connection.send(bodies[index % len(bodies)])
            ok, failed = (ok + 1, failed) if status == 200 else (ok, failed + 1)
            index += connections

    started = time.perf_counter()
    await asyncio.gather(*(run(c, i) for i, c in enumerate(pool)))
    elapsed = time.perf_counter() - started
    for connection in pool:
        connection.close()
    return (ok + failed) / elapsed, ok, failed


async def paced(port: int, bodies: list[bytes], rate: float, seconds: float) -> tuple[list[float], int, int]:
    """Open loop at `rate` requests/s: latency from when each request was due. Latencies (ms), ok, failed."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(64):
        free.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    outcome = {"ok": 0, "failed": 0}

    async def one(body: bytes, due: float) -> None:
        connection = await free.get()
        status = await connection.send(body)
        latencies.append((time.perf_counter() - due) * 1000)
        outcome["ok" if status == 200 else "failed"] += 1
        free.put_nowait(connection)

    start = time.perf_counter() + 0.05
    tasks = []
    for index in range(int(rate * seconds)):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(bodies[index % len(bodies)], due)))
    await asyncio.gather(*tasks)
    while not free.empty():
        free.get_nowait().close()
    return latencies, outcome["ok"], outcome["failed"]


def start_server(home: Path, port: int, processes: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    env["RETRAIN_SERVE__TICK_SECONDS"] = "3600"
    server = subprocess.Popen([sys.executable, "-m", "adapters.cli.main", "--home", str(home), "serve", "--port",
                               str(port), "--no-worker", "--processes", str(processes)], env=env,
                              stdout=subprocess.DEVNULL, stderr=(home.parent / "serve.log").open("wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"serve did not start: {(home.parent / 'serve.log').read_text()[-2000:]}")


def logged(home: Path) -> int:
    if not (home / "feedback.db").exists():
        return 0
    with sqlite3.connect(home / "feedback.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])


@dataclass
class Run:
    """One server configuration measured: saturated rate, paced latencies, and what was logged."""

    processes: int
    rate: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acknowledged: int = 0
    failed: int = 0
    logged: int = 0
    exit_code: int | None = None

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1]


def measure(root: Path, images: list[bytes], processes: int, args: argparse.Namespace) -> Run:
    """A fresh home per configuration: each stores the images it is sent for the first time."""
    run = Run(processes)
    home = root / f"home-{processes}"
    home_with_v1(home).close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_server(home, port, processes)
    try:
        bodies = requests(images, 20_000, port)
        _, warm_up, _ = asyncio.run(saturate(port, bodies, 8, 2.0))
        run.rate, saturated, failed = asyncio.run(saturate(port, bodies, args.connections, args.seconds))
        run.latencies, paced_ok, paced_failed = asyncio.run(paced(port, bodies, args.rate, args.seconds))
        run.acknowledged, run.failed = warm_up + saturated + paced_ok, failed + paced_failed
    finally:
        server.terminate()
        run.exit_code = server.wait(timeout=60)
    run.logged = logged(home)
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load phase")
    parser.add_argument("--connections", type=int, default=64, help="connections of the saturating client")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the paced phase")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="server processes of the second configuration (default: one per core)")
    args = parser.parse_args(argv)
    configure_logging()  # warnings only, on stderr: stdout is the table
    # The home sits where a user's would, on the project's disk (here /tmp is a busier, slower file system).
    with tempfile.TemporaryDirectory(prefix=".bench-serve-", dir=Path.cwd()) as tmp:
        images = digit_pngs()
        runs = [measure(Path(tmp), images, n, args) for n in sorted({1, args.processes})]
        ceiling = in_process_rate(Path(tmp) / "home-1", images)
    rows = [("in-process batch-1 inference (the ceiling)", f"{ceiling:,.0f} /s", "", "")]
    for run in runs:
        name = f"{run.processes} server process{'es' if run.processes > 1 else ''}"
        rows += [
            (f"{name}: POST /v1/predict saturated", f"{run.rate:,.0f} req/s", ">= 1,500 req/s",
             f"{run.rate / ceiling:.2f} x ceiling"),
            (f"{name}: p50 at {args.rate:,.0f} req/s", f"{run.quantile(50):.1f} ms", "", ""),
            (f"{name}: p99 at {args.rate:,.0f} req/s", f"{run.quantile(99):.1f} ms", "<= 20 ms", ""),
            (f"{name}: failed requests", f"{run.failed}", "0", ""),
            (f"{name}: logged / acknowledged", f"{run.logged:,} / {run.acknowledged:,}", "all", ""),
            (f"{name}: exit code after SIGTERM", str(run.exit_code), "0", ""),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>16}  {'target':>15}  ratio")
    for name, value, target, ratio in rows:
        print(f"{name:<{width}}  {value:>16}  {target:>15}  {ratio}")


if __name__ == "__main__":
    main()
