"""As an operator who runs `retrain serve` and `retrain worker` for real (SPEC 7): a server killed with SIGKILL under
load loses no acknowledged prediction and its stores open again; SIGTERM under load drains, flushes, stops the
worker and exits 0; two workers sharing one home run each campaign step exactly once."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cli import CLASSES, RETRAIN, run
from tests.e2e.feedback_data import INGESTED_AT, crafted, png
from tests.e2e.server import Server, auth, processes_of, service_env, stored_prediction_ids, wait_for

CLIENTS = 6  # concurrent client threads, each with its own keep-alive connection
LOAD_SECONDS = 2.5  # how long the load runs before the signal
QUIET_LOOP = service_env(RETRAIN_SERVE__TICK_SECONDS="3600")  # the background loop stays out of the way



@dataclass
class Load:
    """Client threads posting /v1/predict until told to stop. Every request is recorded with when it was sent and
    how it ended: a 200 answer (its prediction_id is then acknowledged), another status, or a transport error."""

    url: str
    clients: int = CLIENTS
    images: list[str] = field(default_factory=lambda: [base64.b64encode(png(seed)).decode() for seed in range(500)])
    acknowledged: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, answered, prediction_id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (status, body) of every answer but 200
    failed: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, failed, error class)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a client thread is stuck"

    def _client(self, number: int) -> None:
        with httpx.Client(base_url=self.url, headers=auth("ingest"), timeout=30) as client:
            sent = 0
            while not self.stopping.is_set():
                body = {"image": self.images[(number * 97 + sent) % len(self.images)], "user_ref": f"u{number}",
                        "image_type": "scan"}
                sent += 1
                started = time.monotonic()
                try:
                    answer = client.post("/v1/predict", json=body)
                except httpx.TransportError as error:
                    with self.lock:
                        self.failed.append((started, time.monotonic(), type(error).__name__))
                    time.sleep(0.02)  # the server is gone or going: do not spin
                    continue
                with self.lock:
                    if answer.status_code == 200:
                        self.acknowledged.append((started, time.monotonic(), answer.json()["prediction_id"]))
                    else:
                        self.refused.append((answer.status_code, answer.text[:300]))

    def ids(self) -> set[str]:
        with self.lock:
            return {prediction_id for _, _, prediction_id in self.acknowledged}

    def run_until_loaded(self, seconds: float = LOAD_SECONDS, minimum: int = 100) -> None:
        """Start the clients and come back once they have been answered for `seconds` (counted from the first answer:
        the server loads the model on its first request) and at least `minimum` times."""
        self.start()
        wait_for(lambda: self.acknowledged, "a first acknowledged prediction")
        loaded = time.monotonic()
        wait_for(lambda: time.monotonic() - loaded >= seconds and len(self.ids()) >= minimum,
                 f"{minimum} acknowledged predictions under load")

    def every_client_failed_since(self, moment: float) -> bool:
        """Each client has seen the server go away (so each was still sending when it went)."""
        with self.lock:
            return (len(self.failed) >= self.clients and
                    sum(1 for _, at, _ in self.failed if at >= moment) >= self.clients)


@pytest.fixture
def home(tmp_path: Path, weights: Path) -> Path:
    """v1 in production, registered without training: serving needs nothing more."""
    home = tmp_path / "home"
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes",
                     CLASSES, "--production", "--baseline-ms", "4")
    assert registered.returncode == 0, registered.stderr
    return home


def kill_workers_of(home: Path) -> None:
    """Clean-up: SIGKILL any worker process of this home that a failing test left behind."""
    for process in processes_of(home, "worker"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)


def assert_stores_whole(home: Path) -> None:
    """Both SQLite stores pass their integrity check, and every logged prediction's image is whole in the blob
    store (images are stored before the rows that name them are committed)."""
    for name in ("feedback.db", "events.db"):
        with sqlite3.connect(home / name) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], name
    with sqlite3.connect(home / "feedback.db") as db:
        shas = {sha for (sha,) in db.execute("SELECT DISTINCT image_sha256 FROM predictions") if sha}
    assert shas
    for sha in shas:
        blob = home / "blobs" / sha[:2] / sha
        assert blob.is_file(), f"prediction image {sha} is missing from the blob store"
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha, f"prediction image {sha} is half-written"


def test_kill_9_under_load_loses_no_acknowledged_prediction_and_the_stores_open_again(home: Path) -> None:
    server = Server(home, "--no-worker", env=QUIET_LOOP)
    load = Load(server.url)
    try:
        load.run_until_loaded()
        killed_at = time.monotonic()
        server.process.kill()
        assert server.process.wait(timeout=30) == -signal.SIGKILL
        wait_for(lambda: load.every_client_failed_since(killed_at), "every client to see the server gone", 30)
    finally:
        load.stop()
        server.stop(signal.SIGKILL)
        kill_workers_of(home)

    # The load really ran up to the kill, and some requests were cut short by it (sent, never answered).
    assert not load.refused, load.refused[:5]
    # (2 s: on a busy 2-core machine a batch of answers can take that long to come back)
    assert any(answered >= killed_at - 2 for _, answered, _ in load.acknowledged), "no answer in the last 2 s"
    # Usually some requests are in flight at the kill (sent, never answered), but the clients' requests are answered
    # in batches, so the kill can fall between two batches: only the server's going away is certain.
    assert all(at >= killed_at for _, at, _ in load.failed), "a request failed before the kill"

    acknowledged, stored = load.ids(), stored_prediction_ids(home)
    assert len(acknowledged) == len(load.acknowledged)  # prediction ids are unique
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged predictions were lost"
    assert_stores_whole(home)

    # The stores open again: the CLI reads them, and a new server starts, serves and logs.
    models = run(home, "models", "--json")
    assert models.returncode == 0, models.stderr
    assert [m["label"] for m in json.loads(models.stdout)] == ["v1"]
    again = Server(home, "--no-worker", env=QUIET_LOOP)
    try:
        assert again.client.get("/healthz").json()["production"] == "v1"
        answer = again.client.post("/v1/predict", json={"image": load.images[0]}, headers=auth("ingest"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["prediction_id"] in stored_prediction_ids(home)
    finally:
        assert again.stop() == 0, again.log.read_text()[-2000:]
    assert stored_prediction_ids(home) >= stored


def test_sigterm_under_load_drains_flushes_stops_the_worker_and_exits_0(home: Path) -> None:
    server = Server(home, env=QUIET_LOOP)  # with its worker, as `retrain serve` runs by default
    load = Load(server.url)
    try:
        [worker] = wait_for(lambda: processes_of(home, "worker"), "serve's worker process", 30)
        assert worker.ppid == server.process.pid, worker
        load.run_until_loaded()
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        exit_code = server.process.wait(timeout=90)
        exited_at = time.monotonic()
        leftovers = processes_of(home, "worker")  # looked at before the clean-up below
        wait_for(lambda: load.every_client_failed_since(exited_at), "every client to see the server gone", 30)
    finally:
        load.stop()
        server.stop(signal.SIGKILL)
        kill_workers_of(home)
    log = server.log.read_text()
    assert exit_code == 0, log[-3000:]

    # Requests in flight when the signal came were answered; nothing was refused or left hanging.
    assert not load.refused, load.refused[:5]
    assert any(answered > stopped_at for _, answered, _ in load.acknowledged), "nothing was answered while draining"
    assert {error for _, _, error in load.failed} <= {"ConnectError", "RemoteProtocolError", "ReadError"}, load.failed
    hung = [(sent, at, error) for sent, at, error in load.failed if at - sent > 10]
    assert not hung, hung

    # Every prediction answered 200 was committed before the process exited.
    acknowledged, stored = load.ids(), stored_prediction_ids(home)
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged predictions were not committed"
    assert_stores_whole(home)

    # The worker was stopped with it: no worker process of this home remains.
    assert not leftovers, leftovers
    assert not worker.alive(), f"serve's worker {worker.pid} outlived it"
    assert "worker_stopped" in log, log[-3000:]  # it stopped on its own terms, not killed


# -- two workers, one home ---------------------------------------------------------------------------------
FAST_TRAINING = service_env(RETRAIN_TRAINING__FULL_MAX_EPOCHS="4", RETRAIN_TRAINING__FINE_TUNE_MAX_EPOCHS="4")


def campaign(home: Path) -> dict[str, Any]:
    listed = run(home, "campaigns", "--json")
    assert listed.returncode == 0, listed.stderr
    [only] = json.loads(listed.stdout)
    return dict(only)


def start_worker(home: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([str(RETRAIN), "--home", str(home), "worker", "--poll", "0.2"], stdout=out,
                                stderr=subprocess.STDOUT, env=FAST_TRAINING, cwd=home.parent)


def test_two_workers_on_one_home_run_each_campaign_step_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = run(home, "init", "--epochs", "5", "--baseline-ms", "4")
    assert init.returncode == 0, init.stderr
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text("".join(json.dumps(record) + "\n" for record in crafted().records))
    ingested = run(home, "ingest", str(feedback), "--now", INGESTED_AT)
    assert ingested.returncode == 0, ingested.stderr
    assert (campaign(home)["state"], campaign(home)["dataset"]) == ("open", None)

    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = [start_worker(home, log) for log in logs]

        def alive_and(state: Callable[[dict[str, Any]], bool]) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                exited = [(w.pid, w.poll()) for w in workers if w.poll() is not None]
                assert not exited, (exited, [log.read_text()[-2000:] for log in logs])
                current = campaign(home)
                return current if state(current) else None
            return check

        curated = wait_for(alive_and(lambda c: c["state"] != "open"), "the campaign to be curated", 120, 0.3)
        assert curated["state"] == "awaiting_review", curated
        queue = json.loads(run(home, "review", "list", "1", "--json").stdout)
        assert queue and all(row["decision"] is None for row in queue)
        for row in queue:
            decided = run(home, "review", "decide", "1", row["item"], "--approve")
            assert decided.returncode == 0, decided.stderr

        done = wait_for(alive_and(lambda c: c["state"] not in ("open", "awaiting_review", "training", "validating")),
                        "the campaign to be trained and validated", 180, 0.3)
        assert done["state"] == "completed", done
        assert done["candidate"] == "v2", done
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in workers]
        assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        kill_workers_of(home)

    everything = json.loads(run(home, "history", "--json").stdout)
    history = [e for e in everything if e["aggregate"] == "RetrainCampaign" and e["aggregate_id"] == done["id"]]
    events = Counter(e["event"] for e in history)
    claims = Counter(e["details"]["step"] for e in history if e["event"] == "StepClaimed")
    assert claims == {"curate": 1, "train": 1, "validate": 1}, claims
    assert (events["DatasetCurated"], events["StrategyChosen"], events["TrainingStarted"], events["CandidateTrained"],
            events["Completed"], events["TrainingFailed"]) == (1, 1, 1, 1, 1, 0), events
    judged = Counter(e["event"] for e in everything if e["event"] in ("CandidateValidated", "CandidateRejected"))
    assert sum(judged.values()) == 1, judged  # the candidate is judged once, by the worker that claimed validation
    assert [e["version"] for e in everything if e["event"] == "Registered"] == ["v1", "v2"]
    rollouts = [e for e in everything if e["aggregate"] == "Rollout" and e["event"] == "Started"]
    assert len(rollouts) == (1 if judged["CandidateValidated"] else 0), rollouts  # a validated v2 starts one rollout
    # Each claim names one of the two workers (`worker:<host>:<pid>`).
    holders = {e["details"]["worker"].rsplit(":", 1)[1] for e in history if e["event"] == "StepClaimed"}
    assert holders <= {str(process.pid) for process in workers}, holders
