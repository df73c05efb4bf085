"""As a user running a classifier behind HTTP: `retrain serve` on loopback, a real HTTP client, every role.

One home is trained once (`retrain init`, v1 on the digits); the server then takes predictions and feedback, a
worker curates, a reviewer decides over HTTP, and an operator pauses, resumes and aborts a rollout."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cli import CLASSES, run
from tests.e2e.feedback_data import crafted, png
from tests.e2e.server import Server, auth, service_env, stored_prediction_ids, stored_rows


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("serve") / "home"
    init = run(home, "init", "--epochs", "5", "--baseline-ms", "4")
    assert init.returncode == 0, init.stderr
    return home


def predict_body(image: bytes, **fields: Any) -> dict[str, Any]:
    return {"image": base64.b64encode(image).decode(), **fields}


def version_ids(home: Path) -> dict[str, str]:
    return {m["label"]: m["id"] for m in json.loads(run(home, "models", "--json").stdout)}


def logged_version(home: Path, prediction_id: str) -> str:
    with sqlite3.connect(home / "feedback.db") as db:
        [(version_id,)] = db.execute("SELECT version_id FROM predictions WHERE prediction_id = ?", (prediction_id,))
    return str(version_id)


def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def refused_changes_nothing(server: Server, home: Path, method: str, path: str, body: Any, headers: dict[str, str],
                            status: int) -> None:
    before_history = server.client.get("/v1/history", headers=auth("reader")).json()  # the read models catch up
    before_rows = stored_rows(home)
    answer = server.client.request(method, path, json=body, headers=headers)
    assert answer.status_code == status, (method, path, answer.status_code, answer.text)
    assert answer.json()["detail"]
    assert stored_rows(home) == before_rows
    assert server.client.get("/v1/history", headers=auth("reader")).json() == before_history


def test_a_served_procedure_over_http_predicts_ingests_reviews_and_operates_a_rollout(
    trained_home: Path, tmp_path: Path, weights: Path,
) -> None:
    home = trained_home
    server = Server(home, "--no-worker", env=service_env(RETRAIN_SERVE__TICK_SECONDS="3600"))
    client = server.client
    try:
        ids = version_ids(home)

        # Predictions, as JSON and as multipart, each logged with the version that served it.
        answer = client.post("/v1/predict", json=predict_body(png(1001), user_ref="u1", image_type="scan"),
                             headers=auth("ingest"))
        assert answer.status_code == 200, answer.text
        served = answer.json()
        assert set(served) >= {"prediction_id", "label", "confidence", "model_version", "inference_ms", "user_ref"}
        assert served["model_version"] == "v1" and served["label"] in CLASSES.split(",")
        assert logged_version(home, served["prediction_id"]) == ids["v1"]
        multipart = client.post("/v1/predict", files={"image": ("d.png", png(2), "image/png")},
                                data={"user_ref": "u2"}, headers=auth("ingest"))
        assert multipart.status_code == 200, multipart.text
        assert multipart.json()["prediction_id"] in stored_prediction_ids(home)

        # Missing, wrong or under-privileged tokens: 401 or 403, and nothing changes.
        body = predict_body(png(3))
        refused_changes_nothing(server, home, "POST", "/v1/predict", body, {}, 401)
        refused_changes_nothing(server, home, "POST", "/v1/predict", body, {"Authorization": "Bearer nope"}, 401)
        refused_changes_nothing(server, home, "POST", "/v1/predict", body, auth("reader"), 403)
        refused_changes_nothing(server, home, "POST", "/v1/rollout/pause", {"reason": "x"}, auth("reviewer"), 403)
        refused_changes_nothing(server, home, "POST", "/v1/rollback", {"to": "v1", "reason": "x"}, auth("ingest"), 403)
        malformed = {"content-type": "application/json"}
        assert client.post("/v1/predictions", content=b"[{bad", headers=malformed).status_code == 401
        assert client.post("/v1/feedback", content=b"[{bad", headers={**malformed, **auth("reader")}).status_code == 403
        not_records = client.post("/v1/predictions", json=[1, {"prediction_id": "x"}], headers=auth("ingest"))
        assert not_records.status_code == 422 and not_records.json()["errors"][0]["index"] == 0
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers=auth("ingest")).status_code == 403

        # A malformed batch: 422 listing every error with its index and field; nothing is written.
        bad = [{"prediction_id": "b1", "timestamp": "yesterday", "model_version": "v1", "predicted_label": "1",
                "inference_ms": 3},
               {"prediction_id": "b2", "timestamp": "2026-03-01T00:00:00Z", "model_version": "v9",
                "predicted_label": "1", "inference_ms": 3},
               {"prediction_id": "b3", "timestamp": "2026-03-01T00:00:00Z", "model_version": "v1",
                "predicted_label": "cat", "inference_ms": 3}]
        before = stored_rows(home)
        rejected = client.post("/v1/predictions", json=bad, headers=auth("ingest"))
        assert rejected.status_code == 422
        errors = rejected.json()["errors"]
        assert [(e["index"], e["field"]) for e in errors] == [(0, "timestamp"), (1, "model_version"),
                                                              (2, "predicted_label")]
        assert stored_rows(home) == before
        not_json = client.post("/v1/predict", content=b"{",
                               headers={**auth("ingest"), "content-type": "application/json"})
        assert not_json.status_code == 422 and not_json.json()["errors"]

        # Real traffic: a batch of records; the loop evaluates the triggers and a campaign opens on the breach.
        data = crafted()
        stored = client.post("/v1/predictions", json=data.records, headers=auth("ingest"))
        assert stored.status_code == 200, stored.text
        assert stored.json()["stored"] == 2 * len(data.records) and stored.json()["duplicates"] == 0
        again = client.post("/v1/predictions", json=data.records[:5], headers=auth("ingest"))
        assert again.json() == {**again.json(), "stored": 0, "duplicates": 5}
        answered = client.post("/v1/feedback", json={"prediction_id": served["prediction_id"], "user_feedback": 1},
                               headers=auth("ingest"))
        assert answered.status_code == 200 and answered.json()["stored"] == 1
        campaigns = wait_for(lambda: client.get("/v1/campaigns", headers=auth("reader")).json(), "a campaign")
        assert campaigns[0]["version"] == "v1" and campaigns[0]["breaches"]

        # A worker curates; a reviewer decides every critical item over HTTP, as the actor api:reviewer.
        assert run(home, "worker", "--once").returncode == 0
        items = client.get("/v1/campaigns/1/review", headers=auth("reviewer")).json()
        assert items and all(item["decision"] is None for item in items)
        path = f"/v1/campaigns/1/review/{items[0]['item']}"
        refused_changes_nothing(server, home, "POST", path, {"decision": "approved"}, auth("operator"), 403)
        assert client.post(path, json={"decision": "maybe"}, headers=auth("reviewer")).status_code == 422
        for index, item in enumerate(items):
            decision = {"decision": "rejected"} if index == 0 else {"decision": "approved"}
            decided = client.post(f"/v1/campaigns/1/review/{item['item']}", json=decision, headers=auth("reviewer"))
            assert decided.status_code == 200, decided.text
        assert client.post(path, json={"decision": "approved"}, headers=auth("reviewer")).status_code == 409
        assert client.get("/v1/campaigns/9", headers=auth("reader")).status_code == 404
        review = json.loads(run(home, "review", "list", "1", "--json").stdout)
        assert {i["decision"] for i in review} == {"approved", "rejected"}
        history = client.get("/v1/history", params={"campaign": "1"}, headers=auth("reader")).json()
        assert {e["actor"] for e in history if e["event"] == "ReviewDecided"} == {"api:reviewer"}

        # A rollout at 10%: routing is sticky per user, and 9-11% of 10,000 users reach the candidate.
        rollout = start_rollout(home, weights)
        status = wait_for(lambda: client.get("/v1/rollout", headers=auth("reader")).json(), "the rollout")
        assert (status["candidate"], status["stable"], status["percent"]) == ("v2", "v1", 10)
        routed = route_ten_thousand_users(home, tmp_path)
        assert_routing(routed, rollout)

        # The operator pauses (everyone back on v1), resumes, then aborts; each decision is recorded as api:operator.
        paused = client.post("/v1/rollout/pause", json={"reason": "checking a complaint"}, headers=auth("operator"))
        assert paused.status_code == 200 and paused.json()["state"] == "paused"
        lucky = next(user for user, version in routed.items() if version == "v2")
        during_pause = client.post("/v1/predict", json=predict_body(png(4), user_ref=lucky), headers=auth("ingest"))
        assert during_pause.json()["model_version"] == "v1"
        assert client.post("/v1/rollout/pause", json={"reason": ""}, headers=auth("operator")).status_code == 422
        resumed = client.post("/v1/rollout/resume", json={"reason": "complaint unfounded"}, headers=auth("operator"))
        assert resumed.json()["state"] == "active"
        after_resume = client.post("/v1/predict", json=predict_body(png(4), user_ref=lucky), headers=auth("ingest"))
        assert after_resume.json()["model_version"] == "v2"
        aborted = client.post("/v1/rollout/abort", json={"reason": "v2 is worse"}, headers=auth("operator"))
        assert aborted.status_code == 200 and aborted.json() is None
        assert client.post("/v1/rollout/resume", json={"reason": "x"}, headers=auth("operator")).status_code == 409
        assert client.post("/v1/rollout/jump", json={"reason": "x"}, headers=auth("operator")).status_code == 404
        shown = {m["label"]: m["state"] for m in client.get("/v1/models", headers=auth("reader")).json()}
        assert shown == {"v1": "production", "v2": "rolled_back"}
        events = client.get("/v1/history", params={"version": "v2"}, headers=auth("reader")).json()
        decisions = [(e["event"], e["actor"]) for e in events if e["aggregate"] == "Rollout"]
        assert ("Paused", "api:operator") in decisions and ("Resumed", "api:operator") in decisions
        assert ("RolledBack", "api:operator") in decisions
        before = client.get("/v1/models", params={"as_of": "2000-01-01T00:00:00Z"}, headers=auth("reader"))
        assert before.status_code == 200 and before.json() == []
        assert client.get("/v1/rollout", params={"as_of": "yesterday"}, headers=auth("reader")).status_code == 422
        story = client.get("/v1/models/v2/explain", headers=auth("reader"))
        assert story.status_code == 200 and story.json()

        metrics = client.get("/metrics", headers=auth("reader")).text
        assert 'retrain_predictions_total{source="predict",version="v1"}' in metrics
        assert 'retrain_predictions_total{source="ingest",version="v1"}' in metrics
        assert "retrain_inference_seconds_bucket" in metrics and "retrain_rule_breached" in metrics
        assert client.get("/openapi.json").json()["paths"].keys() >= {"/v1/predict", "/v1/rollout/{action}"}

        # DELETE /v1/users/{ref} is `forget`, for operators only: u1's prediction and feedback go, u2's stay.
        refused_changes_nothing(server, home, "DELETE", "/v1/users/u1", None, auth("reviewer"), 403)
        forgotten = client.delete("/v1/users/u1", headers=auth("operator"))
        assert forgotten.status_code == 200, forgotten.text
        assert forgotten.json()["deleted"] == {"predictions": 1, "feedback": 1, "images": 1, "review_items": 0}
        assert served["prediction_id"] not in stored_prediction_ids(home)
        assert multipart.json()["prediction_id"] in stored_prediction_ids(home)
        assert client.delete("/v1/users/u1", headers=auth("operator")).json()["deleted"]["predictions"] == 0
        erased = [e for e in client.get("/v1/history", headers=auth("reader")).json()
                  if e["event"] == "ErasureRecorded"]
        assert [(e["actor"], e["details"]["predictions"]) for e in erased] == [("api:operator", 1)]
    finally:
        assert server.stop() == 0, server.log.read_text()[-2000:]


def start_rollout(home: Path, weights: Path) -> str:
    """Given v2 validated against v1 and rolled out at 10% (set up through the application, in this process)."""
    registered = run(home, "model", "register", "--weights", str(weights), "--arch", "digits-cnn", "--classes", CLASSES,
                     "--allow-duplicate")
    assert registered.returncode == 0, registered.stderr
    from adapters.clock import SystemClock
    from application.settings import load_settings
    from bootstrap import Container

    container = Container(load_settings(home=home), SystemClock())
    ledger = container.ledger
    v1, v2 = ledger.version("v1"), ledger.version("v2")
    v2.validate(parent_id=str(v1.id), gates=[], figures={}, actor="user:test", timestamp=datetime.now(UTC))
    ledger.save(v2)
    rollout = container.retrain.rollouts.start("v2", actor="user:test")
    container.close()
    return str(rollout.id)


def route_ten_thousand_users(home: Path, tmp_path: Path) -> dict[str, str]:
    """`retrain predict --requests`: 10,000 distinct users, then 100 of them again; each user's version."""
    image = base64.b64encode(png(5)).decode()
    users = [f"user-{n}" for n in range(10_000)]
    lines = [{"image": image, "user_ref": user, "image_type": "phone"} for user in users + users[:100]]
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    answer = run(home, "predict", "--requests", str(requests), "--json")
    assert answer.returncode == 0, answer.stderr
    served = json.loads(answer.stdout)
    assert len(served) == 10_100
    routed: dict[str, str] = {}
    for one in served:
        assert routed.setdefault(one["user_ref"], one["model_version"]) == one["model_version"], one
    logged = stored_prediction_ids(home)
    assert {one["prediction_id"] for one in served} <= logged
    return routed


def assert_routing(routed: dict[str, str], rollout_id: str) -> None:
    share = sum(1 for version in routed.values() if version == "v2") / len(routed)
    assert 0.09 <= share <= 0.11, share
    for user, version in routed.items():  # SPEC 4.7, computed independently of the product's code
        digest = hashlib.sha256((rollout_id + user).encode()).digest()
        assert (int.from_bytes(digest[:8], "big") % 10_000 < 1000) == (version == "v2"), user


def test_no_token_configured_means_loopback_only(trained_home: Path) -> None:
    env = {k: v for k, v in service_env().items() if k != "RETRAIN_API__TOKENS"}
    refused = run_with_env(trained_home, env, "serve", "--host", "0.0.0.0", "--port", "8999", "--no-worker")
    assert refused.returncode == 2
    assert "no API token" in refused.stderr and "Traceback" not in refused.stderr


def run_with_env(home: Path, env: dict[str, str], *args: str) -> Any:
    import subprocess

    from tests.e2e.cli import RETRAIN

    return subprocess.run([str(RETRAIN), "--home", str(home), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_healthz_needs_no_token_and_reports_production(trained_home: Path) -> None:
    server = Server(trained_home, "--no-worker")
    try:
        health = httpx.get(f"{server.url}/healthz").json()
        assert health["status"] == "ok" and health["production"] == "v1"
    finally:
        assert server.stop() == 0
