"""`retrain predict`, `retrain serve` and `retrain worker`: production traffic through the procedure."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NotRequired

import structlog
import typer
import uvicorn
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from rich.table import Table
from typing_extensions import TypedDict

from adapters.cli.common import EXIT_REFUSED, JsonOption, NowOption, app, out, print_json, state_of
from adapters.logs import configure_logging
from application.campaigns import worker_name
from application.record_lines import OverlongLine, bounded_lines, undecodable
from application.serving import PredictRequest, RequestRejected
from bootstrap import Container
from domain.errors import InvalidInput

log = structlog.get_logger()
MAX_LISTED = 100
SHOWN_ROWS = 50


@with_config(ConfigDict(extra="forbid"))
class RequestLine(TypedDict):
    """One line of `retrain predict --requests FILE`."""

    image: NotRequired[str]
    image_path: NotRequired[Annotated[str, Field(min_length=1, max_length=4096)]]
    user_ref: NotRequired[Annotated[str, Field(min_length=1, max_length=128)] | None]
    image_type: NotRequired[Annotated[str, Field(min_length=1, max_length=64)]]


REQUEST_LINE = TypeAdapter(RequestLine)


@app.command()
def predict(
    ctx: typer.Context,
    images: Annotated[list[Path] | None, typer.Argument(help="PNG or JPEG files to classify.")] = None,
    requests: Annotated[Path | None, typer.Option("--requests", help="A JSON Lines file of requests: "
                        '{"image": base64 | "image_path": path, "user_ref", "image_type"}.')] = None,
    user: Annotated[str | None, typer.Option("--user", help="The user's pseudonymous reference (routing key).")] = None,
    image_type: Annotated[str, typer.Option(
        "--image-type", help="The images' segment, e.g. scan or phone.")] = "unknown",
    now: NowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Route (rule 4.7), classify and log local images; every prediction is logged with the version that served it."""
    if bool(images) == (requests is not None):
        raise InvalidInput("give image files, or --requests FILE, not both")
    if requests is not None:
        batch, where = _file_requests(requests)
    else:
        batch = [PredictRequest(_read_image(path), user, image_type) for path in images or []]
        where = [str(path) for path in images or []]
    try:
        served = state_of(ctx).container(now).retrain.serving.predict(batch)
    except RequestRejected as rejected:  # named by the line (or the file) it came from
        raise InvalidInput(f"{where[rejected.index]}: {rejected.field}: {rejected.reason}; "
                           "nothing was logged") from None
    if as_json:
        return print_json([s.as_json() for s in served])
    if len(served) > SHOWN_ROWS:
        counts: dict[str, int] = {}
        for one in served:
            counts[one.model_version] = counts.get(one.model_version, 0) + 1
        out.print(f"Logged {len(served)} predictions: " +
                  ", ".join(f"{v} served {n}" for v, n in sorted(counts.items())))
        return
    table = Table("prediction", "label", "confidence", "version", "ms", "user")
    for one in served:
        table.add_row(one.prediction_id, one.label, f"{one.confidence:.3f}", one.model_version,
                      f"{one.inference_ms:.2f}", one.user_ref or "-")
    out.print(table)


def _read_image(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    if path.stat().st_size > 5 * 1024 * 1024:
        raise InvalidInput(f"{path}: image is larger than 5 MB")
    return path.read_bytes()


def _file_requests(source: Path) -> tuple[list[PredictRequest], list[str]]:
    """Every line checked (errors name the line and the field) before anything is classified or logged; the
    requests, and the line each came from.

    An `image_path` is read relative to the requests file and may not leave its directory."""
    if not source.is_file():
        raise InvalidInput(f"{source} is not a file")
    root = source.resolve().parent
    batch: list[PredictRequest] = []
    lines: list[str] = []
    errors: list[str] = []
    with source.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(bounded_lines(handle), start=1):
            if isinstance(text, OverlongLine):
                errors.append(f"line {number}: {OverlongLine.reason}")
                continue
            if not text.strip():
                continue
            if undecodable(text):
                errors.append(f"line {number}: not valid UTF-8")
                continue
            try:
                line = REQUEST_LINE.validate_json(text)
                batch.append(PredictRequest(_line_image(line, root), line.get("user_ref"),
                                            line.get("image_type", "unknown")))
                lines.append(f"line {number}")
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "request"
                errors.append(f"line {number}: {where}: {first['msg']}")
            except InvalidInput as error:
                errors.append(f"line {number}: {error}")
    if errors:
        for error in errors[:MAX_LISTED]:
            sys.stderr.write(f"{error}\n")
        raise InvalidInput(f"{len(errors)} invalid request(s), nothing was logged; first: {errors[0]}")
    if not batch:
        raise InvalidInput(f"{source} holds no request")
    return batch, lines


def _line_image(line: dict[str, Any], root: Path) -> bytes:
    if ("image" in line) == ("image_path" in line):
        raise InvalidInput("give exactly one of image (base64) or image_path")
    if "image" in line:
        try:
            return base64.b64decode(line["image"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("image: image is not valid base64") from None
    path = (root / line["image_path"]).resolve()
    if not path.is_relative_to(root):
        raise InvalidInput(f"image_path: {line['image_path']!r} leaves the requests file's directory")
    if not path.is_file():
        raise InvalidInput(f"image_path: {line['image_path']!r} is not a file")
    return _read_image(path)


# -- the service ---------------------------------------------------------------------------------------------
@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Run no worker here (they run elsewhere).")] = False,
    processes: Annotated[int, typer.Option("--processes", help="Server processes sharing the port (one per core "
                                           "serves the most requests).", min=1, max=64)] = 1,
) -> None:
    """The HTTP API, the web console (/ui/) and the background loop (monitor, rollout phases); one `retrain worker`
    unless --no-worker.

    SIGTERM drains in-flight requests, commits pending predictions, stops the worker and exits 0."""
    from adapters.web import web_app

    state = state_of(ctx)
    configure_logging(verbose=state.debug, service=True)
    container = state.container(server=True)
    if not container.settings.api.tokens and not _is_loopback(host):
        raise InvalidInput(f"refusing to listen on {host} with no API token configured: set api.tokens "
                           "(RETRAIN_API__TOKENS) or listen on 127.0.0.1")
    container.retrain.router.table()  # open the stores and fail now, not on the first request
    worker = None if no_worker else _start_worker(ctx)
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None, "access_log": False,
                               "timeout_graceful_shutdown": 30, "lifespan": "on", "proxy_headers": False}
    log.info("serving", url=f"http://{host}:{port}", console=f"http://{host}:{port}/ui/", processes=processes,
             worker=worker.pid if worker else None)
    try:
        if processes == 1:
            server = _Server(uvicorn.Config(web_app(container), **options))
            server.run()
            if not server.started:
                raise InvalidInput(f"could not listen on {host}:{port}")
        else:
            container.close()  # each process builds its own graph from the same settings
            _environment_for_processes(state)
            uvicorn.run("adapters.web:app_from_environment", factory=True, workers=processes, **options)
    finally:
        _stop_worker(worker)


def _environment_for_processes(state: Any) -> None:
    """What the server processes read their settings from: the same as this command's."""
    if state.home is not None:
        os.environ["RETRAIN_HOME"] = str(state.home)
    if state.config is not None:
        os.environ["RETRAIN_CONFIG_FILE"] = str(state.config)


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGTERM and SIGINT end it gracefully and the command goes on to stop the worker
    and exit 0 (uvicorn would raise the signal again once the server is down)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _start_worker(ctx: typer.Context) -> subprocess.Popen[bytes]:
    """`retrain worker` in its own process: training never runs in a process that serves requests."""
    state = state_of(ctx)
    command = [sys.executable, "-m", "adapters.cli.main"]
    if state.home is not None:
        command += ["--home", str(state.home)]
    if state.config is not None:
        command += ["--config", str(state.config)]
    process = subprocess.Popen([*command, "worker", "--exit-with-parent"])
    log.info("worker_started", pid=process.pid)
    return process


def _stop_worker(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log.warning("worker_killed", pid=process.pid, reason="still busy 30 s after SIGTERM")
        process.kill()
        process.wait()


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass over the campaigns, then exit.")] = False,
    poll: Annotated[float | None, typer.Option("--poll", help="Seconds between passes (default: worker.poll_seconds).",
                                               min=0.01)] = None,
    exit_with_parent: Annotated[bool, typer.Option(
        "--exit-with-parent", hidden=True, help="Stop when the process that started this one is gone.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Claim and run campaign steps (curate, train, validate); each step is claimed by exactly one worker.

    SIGTERM lets the current step finish, then exits 0. A failed pass is logged and the next one runs."""
    state = state_of(ctx)
    configure_logging(verbose=state.debug, service=True)
    container: Container = state.container()
    retrain = container.retrain
    name = worker_name("worker")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    interval = poll if poll is not None else container.settings.worker.poll_seconds
    log.info("worker_ready", worker=name, poll_seconds=interval)
    passes, parent = 0, os.getppid()
    while not stopping.is_set():
        try:
            retrain.campaigns.step_all(worker=name)
        except Exception as error:  # a worker outlives one failed pass; the log says why
            if once:
                raise
            log.error("worker_pass_failed", worker=name, error=type(error).__name__, detail=str(error)[:200])
        passes += 1
        if once or (exit_with_parent and os.getppid() != parent):
            break
        stopping.wait(interval)
    log.info("worker_stopped", worker=name, passes=passes)
    if as_json:
        print_json({"worker": name, "passes": passes})


@app.command("train-node")
def train_node(
    ctx: typer.Context,
    node_rank: Annotated[int, typer.Option("--node-rank", help="This host's node rank, 1 to training.nodes - 1.")],
    once: Annotated[bool, typer.Option("--once", help="Take part in one training, then exit.")] = False,
) -> None:
    """Lend this host's processes to data-parallel trainings across hosts (training.nodes > 1).

    Node 0 is the host whose worker trains; it sends the job over the process group, so this host needs neither the
    stores nor the blob store, only the same training settings. Between trainings this command waits for the next."""
    state = state_of(ctx)
    configure_logging(verbose=state.debug, service=True)
    container = state.container()
    training = container.settings.training
    container.follow_training(node_rank, check_only=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    log.info("train_node_ready", node_rank=node_rank, nodes=training.nodes,
             master=f"{training.master_addr}:{training.master_port}", processes=training.world_size // training.nodes)
    while not stopping.is_set():
        code = container.follow_training(node_rank, stopping=stopping)
        log.info("train_node_done", node_rank=node_rank, exit_code=code)
        if once:
            if code != 0:
                raise typer.Exit(EXIT_REFUSED)
            return
