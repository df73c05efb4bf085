"""Serving (rule 4.7): each request is routed to the version that serves it, classified, and logged with that version;
the routing table is rebuilt only when the event log moves; concurrent requests are classified in batches."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from application.ledger import Ledger
from application.ports import ModelRef, Prediction
from application.prediction_log import GroupCommitLog
from application.serving import Batched, BatchedServing, PredictRequest, Router, RoutingTable
from domain.errors import IllegalTransition, InvalidInput
from tests.fakes import FakePredictor
from tests.harness import Harness, build_harness, png

FIVE_MB = 5 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOT_DECODABLE = PNG_SIGNATURE + b"these bytes only look like a PNG"
WAIT = 5.0  # seconds: a bound on waiting for the inference thread, never a pause
STABLE = ModelRef("stable-id", "v1", "digits-cnn", {}, ["0", "1"], "s" * 64)
CANDIDATE = ModelRef("candidate-id", "v2", "digits-cnn", {}, ["0", "1"], "c" * 64)


class DecodingPredictor(FakePredictor):
    """Decodes every image it is asked to classify (as the real predictor does) and notes each forward pass; a test
    can hold it at a gate to make requests queue up behind one pass."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__(answers)
        self.passes: list[tuple[str, int]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]:
        self.passes.append((model.label, len(images)))
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        for image in images:
            self.check_image(image, model.input_spec)
        return super().predict(model, images)


def expected_bucket(rollout_id: str, key: str) -> int:
    """SPEC 4.7, computed independently: the first 8 bytes of sha256(rollout id + key), big-endian, mod 10,000."""
    return int.from_bytes(hashlib.sha256((rollout_id + key).encode()).digest()[:8], "big") % 10_000


def key_in_bucket(rollout_id: str, wanted: int) -> str:
    return next(f"user-{i}" for i in range(1_000_000) if expected_bucket(rollout_id, f"user-{i}") == wanted)


def rollout_table(percent: float) -> RoutingTable:
    return RoutingTable(7, STABLE, "rollout-1", STABLE, CANDIDATE, percent)


@pytest.fixture
def predictor() -> DecodingPredictor:
    return DecodingPredictor({"v1": "1", "v2": "2"})


@pytest.fixture
def serving_harness(predictor: DecodingPredictor) -> Harness:
    """v1 in production; v1 answers "1" and v2 answers "2", so a label shows which model classified."""
    harness = build_harness(predictor=predictor)
    harness.register()
    return harness


def roll_out_v2(harness: Harness) -> None:
    """v2 validated against v1 and rolled out to its first phase (10%)."""
    candidate = harness.register(production=False)
    parent = harness.app.ledger.production()
    assert parent is not None
    candidate.validate(parent_id=str(parent.id), gates=[], figures={}, actor="system:campaign",
                       timestamp=harness.clock.now())
    harness.app.ledger.save(candidate)
    harness.app.rollouts.start("v2", actor="system:rollout")


def logged_version_labels(harness: Harness) -> dict[str, str]:
    """Each logged prediction's id, and the label of the version its row names."""
    labels = {str(v.id): v.label for v in harness.app.ledger.versions()}
    return {pid: labels[row.version_id] for pid, row in harness.feedback.predictions.items()}  # type: ignore[attr-defined]


# -- the routing rule -----------------------------------------------------------------------------------------
def test_without_a_rollout_production_serves_everyone() -> None:
    table = RoutingTable(3, STABLE)
    assert {table.version_for(f"user-{i}", f"p{i}").label for i in range(200)} == {"v1"}


def test_without_a_production_version_nothing_can_be_served() -> None:
    with pytest.raises(IllegalTransition, match="no version is in production"):
        RoutingTable(0, None).version_for("user-1", "p1")


def test_the_candidate_serves_exactly_the_buckets_below_percent_times_100() -> None:
    table = rollout_table(10)
    served = {f"user-{i}": table.version_for(f"user-{i}", "p-ignored").label for i in range(2000)}
    expected = {key: "v2" if expected_bucket("rollout-1", key) < 1000 else "v1" for key in served}
    assert served == expected
    assert 100 < list(served.values()).count("v2") < 300  # about 10%


def test_a_bucket_equal_to_percent_times_100_stays_on_the_stable_version() -> None:
    table = rollout_table(10)
    assert table.version_for(key_in_bucket("rollout-1", 1000), "p1") == STABLE
    assert table.version_for(key_in_bucket("rollout-1", 999), "p1") == CANDIDATE


@pytest.mark.parametrize(("percent", "label"), [(0, "v1"), (100, "v2")])
def test_no_traffic_and_full_traffic_send_everyone_one_way(percent: float, label: str) -> None:
    table = rollout_table(percent)
    assert {table.version_for(f"user-{i}", f"p{i}").label for i in range(500)} == {label}


def test_a_user_sees_one_version_whatever_the_prediction() -> None:
    table = rollout_table(50)
    for user in ("user-1", "user-2", "user-3", "user-4"):
        assert len({table.version_for(user, f"p{i}").label for i in range(50)}) == 1


def test_without_a_user_ref_the_prediction_id_is_the_routing_key() -> None:
    table = rollout_table(50)
    routed = {f"p{i}": table.version_for(None, f"p{i}").label for i in range(400)}
    assert routed == {pid: "v2" if expected_bucket("rollout-1", pid) < 5000 else "v1" for pid in routed}


def test_buckets_differ_between_rollouts() -> None:
    users = [f"user-{i}" for i in range(400)]
    first = [rollout_table(50).version_for(u, "p").label for u in users]
    other = RoutingTable(7, STABLE, "rollout-2", STABLE, CANDIDATE, 50)
    assert first != [other.version_for(u, "p").label for u in users]


# -- the cached routing table ------------------------------------------------------------------------------
class CountingLedger:
    """The ledger, counting how often the router reads who is in production (once per rebuilt table)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.recorder = ledger.recorder
        self.builds = 0

    def production(self) -> Any:
        self.builds += 1
        return self.ledger.production()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)


@pytest.fixture
def counting(serving_harness: Harness) -> CountingLedger:
    return CountingLedger(serving_harness.app.ledger)


def test_the_table_is_reused_while_the_event_log_has_not_moved(counting: CountingLedger) -> None:
    router = Router(ledger=counting)  # type: ignore[arg-type]
    first = router.table()
    assert router.table() is first
    assert counting.builds == 1
    assert first.position == counting.recorder.max_notification_id()
    assert (first.production and first.production.label, first.rollout_id) == ("v1", None)


def test_the_table_is_rebuilt_once_the_event_log_moves(serving_harness: Harness, counting: CountingLedger) -> None:
    router = Router(ledger=counting)  # type: ignore[arg-type]
    first = router.table()
    roll_out_v2(serving_harness)
    second = router.table()
    assert (counting.builds, second.position > first.position) == (2, True)
    assert (second.stable, second.percent) == (first.production, 10.0)
    assert second.candidate is not None and second.candidate.label == "v2"
    assert router.table() is second


def test_a_paused_rollout_sends_everyone_to_the_stable_version(serving_harness: Harness) -> None:
    roll_out_v2(serving_harness)
    router = serving_harness.app.router
    assert router.table().rollout_id is not None
    serving_harness.app.rollouts.pause(reason="looking into complaints", actor="user:ops")
    paused = router.table()
    assert paused.rollout_id is None
    assert {paused.version_for(f"user-{i}", f"p{i}").label for i in range(300)} == {"v1"}
    serving_harness.app.rollouts.resume(reason="complaints explained", actor="user:ops")
    assert {router.table().version_for(f"user-{i}", f"p{i}").label for i in range(300)} == {"v1", "v2"}


# -- validation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("request_", "field"), [
    (PredictRequest(png(1), user_ref="u" * 128, image_type="t" * 64), None),
    (PredictRequest(png(1), user_ref="u" * 129), "user_ref"),
    (PredictRequest(png(1), user_ref=""), "user_ref"),
    (PredictRequest(png(1), image_type="t" * 65), "image_type"),
    (PredictRequest(png(1), image_type=""), "image_type"),
    (PredictRequest(PNG_SIGNATURE + b"\0" * (FIVE_MB - len(PNG_SIGNATURE))), None),
    (PredictRequest(PNG_SIGNATURE + b"\0" * (FIVE_MB - len(PNG_SIGNATURE) + 1)), "image"),
    (PredictRequest(b"\xff\xd8\xff\xe0 a JPEG's first bytes"), None),
    (PredictRequest(b"GIF89a"), "image"),
    (PredictRequest(b""), "image"),
])
def test_a_request_names_its_first_invalid_field(request_: PredictRequest, field: str | None) -> None:
    problem = request_.problem()
    assert (problem[0] if problem else None) == field


def test_one_invalid_request_refuses_the_whole_batch_and_logs_nothing(
    serving_harness: Harness, predictor: DecodingPredictor
) -> None:
    requests = [PredictRequest(png(1)), PredictRequest(png(2), user_ref="u" * 129)]
    with pytest.raises(InvalidInput, match="request 1: user_ref: user_ref must have 1 to 128 characters"):
        serving_harness.app.serving.predict(requests)
    assert (predictor.passes, logged_version_labels(serving_harness)) == ([], {})


def test_an_image_that_does_not_decode_is_invalid_input_and_logs_nothing(serving_harness: Harness) -> None:
    with pytest.raises(InvalidInput, match="image: image does not decode"):
        serving_harness.app.serving.predict([PredictRequest(png(1)), PredictRequest(NOT_DECODABLE)])
    assert logged_version_labels(serving_harness) == {}


def test_nothing_is_served_before_a_version_is_in_production(predictor: DecodingPredictor) -> None:
    harness = build_harness(predictor=predictor)
    with pytest.raises(IllegalTransition, match="no version is in production"):
        harness.app.serving.predict([PredictRequest(png(1))])


# -- classifying and logging ----------------------------------------------------------------------------------
def test_each_prediction_is_answered_in_order_and_logged_with_its_image(serving_harness: Harness) -> None:
    images = [png(1), png(2)]
    served = serving_harness.app.serving.predict([PredictRequest(images[0], user_ref="alice", image_type="phone"),
                                                  PredictRequest(images[1])])
    assert [(s.label, s.model_version, s.user_ref, s.image_type) for s in served] == [
        ("1", "v1", "alice", "phone"), ("1", "v1", None, "unknown")]
    assert len({s.prediction_id for s in served}) == 2
    rows = serving_harness.feedback.predictions  # type: ignore[attr-defined]
    for answer, image in zip(served, images, strict=True):
        row = rows[answer.prediction_id]
        assert (row.user_ref, row.image_type, row.predicted_label) == (answer.user_ref, answer.image_type, "1")
        assert row.timestamp == serving_harness.clock.now()
        assert serving_harness.blobs.get(row.image_sha256) == image
    assert served[0].as_json()["model_version"] == "v1"


def test_during_a_rollout_each_prediction_is_logged_with_the_version_that_served_it(
    serving_harness: Harness, predictor: DecodingPredictor
) -> None:
    roll_out_v2(serving_harness)
    requests = [PredictRequest(png(i), user_ref=f"user-{i}") for i in range(60)]
    served = serving_harness.app.serving.predict(requests)
    logged = logged_version_labels(serving_harness)
    assert {s.model_version for s in served} == {"v1", "v2"}
    assert all(logged[s.prediction_id] == s.model_version for s in served)
    assert all(s.label == {"v1": "1", "v2": "2"}[s.model_version] for s in served)
    assert sorted(predictor.passes) == sorted([("v1", sum(s.model_version == "v1" for s in served)),
                                               ("v2", sum(s.model_version == "v2" for s in served))])


def test_a_user_is_served_by_the_same_version_throughout_a_phase(serving_harness: Harness) -> None:
    roll_out_v2(serving_harness)
    serving = serving_harness.app.serving
    for user in ("user-1", "user-2", "user-3"):
        versions = {serving.predict([PredictRequest(png(i), user_ref=user)])[0].model_version for i in range(5)}
        assert len(versions) == 1


def test_classifying_writes_nothing(serving_harness: Harness) -> None:
    served, batch = serving_harness.app.serving.classify([PredictRequest(png(1))])
    assert [row.prediction_id for row in batch.rows] == [served[0].prediction_id]
    assert logged_version_labels(serving_harness) == {}
    assert not serving_harness.blobs.has(batch.rows[0].image_sha256 or "")


# -- batched serving ----------------------------------------------------------------------------------------
@pytest.fixture
def batched(serving_harness: Harness) -> Iterator[BatchedServing]:
    service = BatchedServing(serving_harness.app.serving)
    yield service
    service.close()


def hold_inference(predictor: DecodingPredictor, service: BatchedServing) -> Future[Batched]:
    """The inference thread is stopped inside a first forward pass, so the next requests queue up together."""
    predictor.gate.clear()
    first = service.submit(PredictRequest(png(100)))
    assert predictor.entered.wait(WAIT)
    return first


def test_an_invalid_request_is_refused_at_submit(batched: BatchedServing, predictor: DecodingPredictor) -> None:
    with pytest.raises(InvalidInput, match="image_type: image_type must have 1 to 64 characters"):
        batched.submit(PredictRequest(png(1), image_type=""))
    assert predictor.passes == []


def test_requests_that_queue_up_are_classified_in_one_forward_pass(
    serving_harness: Harness, batched: BatchedServing, predictor: DecodingPredictor
) -> None:
    first = hold_inference(predictor, batched)
    later = [batched.submit(PredictRequest(png(i))) for i in range(4)]
    predictor.gate.set()
    answers = [f.result(timeout=WAIT) for f in [first, *later]]
    assert predictor.passes == [("v1", 1), ("v1", 4)]
    for answer in answers:
        assert answer.committed.result(timeout=WAIT) is None
    assert set(logged_version_labels(serving_harness)) == {a.served.prediction_id for a in answers}


def test_an_image_that_does_not_decode_fails_only_its_own_request(
    serving_harness: Harness, batched: BatchedServing, predictor: DecodingPredictor
) -> None:
    first = hold_inference(predictor, batched)
    good, bad, other = (batched.submit(PredictRequest(image)) for image in (png(1), NOT_DECODABLE, png(2)))
    predictor.gate.set()
    first.result(timeout=WAIT)
    answers = [good.result(timeout=WAIT), other.result(timeout=WAIT)]
    with pytest.raises(InvalidInput, match="image does not decode"):
        bad.result(timeout=WAIT)
    assert predictor.passes == [("v1", 1), ("v1", 3), ("v1", 1), ("v1", 1), ("v1", 1)]
    assert [a.served.label for a in answers] == ["1", "1"]
    logged = logged_version_labels(serving_harness)
    assert len(logged) == 3 and all(a.served.prediction_id in logged for a in answers)


def test_without_production_every_request_of_the_batch_is_told(predictor: DecodingPredictor) -> None:
    service = BatchedServing(build_harness(predictor=predictor).app.serving)
    try:
        futures = [service.submit(PredictRequest(png(i))) for i in range(3)]
        for future in futures:
            with pytest.raises(IllegalTransition, match="no version is in production"):
                future.result(timeout=WAIT)
    finally:
        service.close()


def test_closing_classifies_and_logs_what_is_pending(serving_harness: Harness) -> None:
    service = BatchedServing(serving_harness.app.serving, max_batch=3)
    futures = [service.submit(PredictRequest(png(i), user_ref=f"user-{i}")) for i in range(10)]
    service.close()
    assert all(f.done() for f in futures)
    answers = [f.result() for f in futures]
    assert [a.served.user_ref for a in answers] == [f"user-{i}" for i in range(10)]
    assert set(logged_version_labels(serving_harness)) == {a.served.prediction_id for a in answers}


def test_a_batched_answer_is_acknowledged_once_the_group_commit_lands(serving_harness: Harness) -> None:
    log = GroupCommitLog(serving_harness.feedback, serving_harness.blobs)
    serving_harness.app.serving.log = log
    service = BatchedServing(serving_harness.app.serving)
    try:
        answer = service.submit(PredictRequest(png(1), user_ref="alice")).result(timeout=WAIT)
        assert answer.committed.result(timeout=WAIT) is None
        assert logged_version_labels(serving_harness) == {answer.served.prediction_id: "v1"}
    finally:
        service.close()
        log.close()
