"""Serving (rule 4.7): each request is routed to the version that serves it, classified, and logged with that version;
the routing table is rebuilt only when the event log moves; requests that arrive together are classified in one forward
pass per version and logged in one commit (`serve_batch`), gathered on the server's event loop (`PredictionBatcher`)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest

from adapters.http.batching import PredictionBatcher
from application.ledger import Ledger
from application.ports import ModelRef, Prediction
from application.records import StoredFeedback, StoredPrediction
from application.serving import PredictRequest, Router, RoutingTable, Served, serve_batch
from domain.errors import IllegalTransition, InvalidInput
from tests.fakes import FakePredictor, InMemoryFeedbackStore
from tests.harness import Harness, build_harness, png

FIVE_MB = 5 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOT_DECODABLE = PNG_SIGNATURE + b"these bytes only look like a PNG"
WAIT = 5.0  # seconds: a bound on an event loop scenario that would otherwise hang, never a pause
STABLE = ModelRef("stable-id", "v1", "digits-cnn", {}, ["0", "1"], "s" * 64)
CANDIDATE = ModelRef("candidate-id", "v2", "digits-cnn", {}, ["0", "1"], "c" * 64)


T = TypeVar("T")


class DecodingPredictor(FakePredictor):
    """Decodes every image it is asked to classify (as the real predictor does) and notes each forward pass."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__(answers)
        self.passes: list[tuple[str, int]] = []

    def predict(self, model: ModelRef, images: Sequence[bytes]) -> list[Prediction]:
        self.passes.append((model.label, len(images)))
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


class CommitCountingStore(InMemoryFeedbackStore):
    """Notes each commit's prediction ids (so a test sees how many transactions logged what); raises `failure`
    instead of committing when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[list[str]] = []
        self.attempts = 0
        self.failure: Exception | None = None

    def add(self, predictions: Sequence[StoredPrediction], feedback: Sequence[StoredFeedback]) -> None:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        self.commits.append([p.prediction_id for p in predictions])
        super().add(predictions, feedback)


@pytest.fixture
def predictor() -> DecodingPredictor:
    return DecodingPredictor({"v1": "1", "v2": "2"})


@pytest.fixture
def store() -> CommitCountingStore:
    return CommitCountingStore()


@pytest.fixture
def serving_harness(predictor: DecodingPredictor, store: CommitCountingStore) -> Harness:
    """v1 in production; v1 answers "1" and v2 answers "2", so a label shows which model classified."""
    harness = build_harness(predictor=predictor, feedback=store)
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
    # each image its own forward pass: a 10% candidate's latency is not that of a small share of a shared pass
    assert sorted(predictor.passes) == sorted((s.model_version, 1) for s in served)


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


# -- requests served together: serve_batch ----------------------------------------------------------------------
def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def answers_of(outcomes: Sequence[Served | BaseException]) -> list[Served]:
    """The outcomes, every one of which must be an answer."""
    assert all(isinstance(outcome, Served) for outcome in outcomes), outcomes
    return [outcome for outcome in outcomes if isinstance(outcome, Served)]


def test_requests_served_together_take_one_forward_pass_and_one_commit(
    serving_harness: Harness, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    images = [png(i) for i in range(5)]
    requests = [PredictRequest(image, user_ref=f"user-{i}") for i, image in enumerate(images)]
    answers = answers_of(serve_batch(serving_harness.app.serving, requests))
    assert predictor.passes == [("v1", 5)]
    assert store.commits == [[a.prediction_id for a in answers]]
    assert [(a.user_ref, a.label, a.model_version) for a in answers] == [(f"user-{i}", "1", "v1") for i in range(5)]
    for answer, image in zip(answers, images, strict=True):
        assert serving_harness.blobs.get(store.predictions[answer.prediction_id].image_sha256 or "") == image


def test_during_a_rollout_requests_served_together_take_one_pass_per_version_and_still_one_commit(
    serving_harness: Harness, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    roll_out_v2(serving_harness)
    requests = [PredictRequest(png(i), user_ref=f"user-{i}") for i in range(200)]
    answers = answers_of(serve_batch(serving_harness.app.serving, requests))
    versions = [a.model_version for a in answers]
    assert set(versions) == {"v1", "v2"}
    assert sorted(predictor.passes) == [("v1", versions.count("v1")), ("v2", versions.count("v2"))]
    assert len(store.commits) == 1 and sorted(store.commits[0]) == sorted(a.prediction_id for a in answers)
    assert [a.user_ref for a in answers] == [r.user_ref for r in requests]
    logged = logged_version_labels(serving_harness)
    assert all(logged[a.prediction_id] == a.model_version for a in answers)


def test_an_image_that_does_not_decode_fails_only_its_own_request_and_the_others_are_logged(
    serving_harness: Harness, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    requests = [PredictRequest(png(1), user_ref="a"), PredictRequest(NOT_DECODABLE, user_ref="b"),
                PredictRequest(png(2), user_ref="c")]
    outcomes = serve_batch(serving_harness.app.serving, requests)
    assert isinstance(outcomes[1], InvalidInput) and "image does not decode" in str(outcomes[1])
    answers = answers_of([outcomes[0], outcomes[2]])
    assert [(a.user_ref, a.label) for a in answers] == [("a", "1"), ("c", "1")]
    assert predictor.passes == [("v1", 3), ("v1", 1), ("v1", 1), ("v1", 1)]  # together, then each alone
    assert sorted(store.predictions) == sorted(a.prediction_id for a in answers)
    assert not serving_harness.blobs.has(sha(NOT_DECODABLE))


def test_a_request_with_an_invalid_field_fails_only_itself_when_served_together(
    serving_harness: Harness, store: CommitCountingStore
) -> None:
    requests = [PredictRequest(png(1)), PredictRequest(png(2), image_type=""), PredictRequest(png(3))]
    outcomes = serve_batch(serving_harness.app.serving, requests)
    assert isinstance(outcomes[1], InvalidInput)
    assert "image_type: image_type must have 1 to 64 characters" in str(outcomes[1])
    answers = answers_of([outcomes[0], outcomes[2]])
    assert sorted(store.predictions) == sorted(a.prediction_id for a in answers)


def test_a_lone_request_whose_image_does_not_decode_is_told_without_a_retry(
    serving_harness: Harness, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    outcomes = serve_batch(serving_harness.app.serving, [PredictRequest(NOT_DECODABLE)])
    assert len(outcomes) == 1 and isinstance(outcomes[0], InvalidInput)
    assert (predictor.passes, store.attempts) == ([("v1", 1)], 0)


def test_a_failed_commit_fails_every_request_served_together_and_acknowledges_none(
    serving_harness: Harness, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    store.failure = OSError("disk I/O error")
    outcomes = serve_batch(serving_harness.app.serving, [PredictRequest(png(i)) for i in range(4)])
    assert len(outcomes) == 4
    assert all(isinstance(o, OSError) and "disk I/O error" in str(o) for o in outcomes)
    assert (predictor.passes, store.attempts, store.predictions) == ([("v1", 4)], 1, {})


def test_without_production_every_request_served_together_is_told(
    predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    harness = build_harness(predictor=predictor, feedback=store)
    outcomes = serve_batch(harness.app.serving, [PredictRequest(png(i)) for i in range(3)])
    assert len(outcomes) == 3
    assert all(isinstance(o, IllegalTransition) and "no version is in production" in str(o) for o in outcomes)
    assert (predictor.passes, store.attempts) == ([], 0)


# -- the server's batches: PredictionBatcher on the event loop ----------------------------------------------------
def run(scenario: Callable[[], Awaitable[T]]) -> T:
    """A scenario on a fresh event loop, bounded so that a request never answered fails the test instead of hanging."""
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), WAIT)

    return asyncio.run(bounded())


def serve_concurrently(batcher: PredictionBatcher, requests: Sequence[PredictRequest]) -> list[Served | BaseException]:
    """Every request submitted at once (asyncio.gather), as concurrent HTTP requests are; each caller's outcome."""
    async def scenario() -> list[Served | BaseException]:
        batcher.start()
        try:
            return list(await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True))
        finally:
            await batcher.close()

    return run(scenario)


@pytest.fixture
def batcher(serving_harness: Harness) -> PredictionBatcher:
    """Built outside the event loop, as the HTTP app builds it; each scenario starts it and closes it."""
    return PredictionBatcher(serving_harness.app.serving, max_batch=256)


def test_concurrent_requests_are_classified_in_one_forward_pass_and_logged_in_one_commit(
    batcher: PredictionBatcher, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    answers = answers_of(serve_concurrently(batcher, [PredictRequest(png(i), user_ref=f"user-{i}") for i in range(8)]))
    assert predictor.passes == [("v1", 8)]
    assert store.commits == [[a.prediction_id for a in answers]]
    assert [a.user_ref for a in answers] == [f"user-{i}" for i in range(8)]


def test_a_request_that_arrives_a_loop_turn_after_the_first_joins_its_batch(
    batcher: PredictionBatcher, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    async def scenario() -> list[Served]:
        batcher.start()
        try:
            first = asyncio.create_task(batcher.submit(PredictRequest(png(1))))
            await asyncio.sleep(0)  # the first is queued, and the batcher woken, before the second arrives
            second = asyncio.create_task(batcher.submit(PredictRequest(png(2))))
            return list(await asyncio.gather(first, second))
        finally:
            await batcher.close()

    answers = run(scenario)
    assert predictor.passes == [("v1", 2)]
    assert store.commits == [[a.prediction_id for a in answers]]


def test_a_batch_stops_growing_at_max_batch(
    serving_harness: Harness, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    batcher = PredictionBatcher(serving_harness.app.serving, max_batch=4)
    answers = answers_of(serve_concurrently(batcher, [PredictRequest(png(i)) for i in range(10)]))
    assert predictor.passes == [("v1", 4), ("v1", 4), ("v1", 2)]
    assert [len(rows) for rows in store.commits] == [4, 4, 2]
    assert [pid for rows in store.commits for pid in rows] == [a.prediction_id for a in answers]


def test_each_caller_gets_the_answer_to_its_own_request(
    serving_harness: Harness, batcher: PredictionBatcher, store: CommitCountingStore
) -> None:
    roll_out_v2(serving_harness)  # the batch is split between two versions, then its answers put back in order
    requests = [PredictRequest(png(i), user_ref=f"user-{i}", image_type=f"kind-{i % 7}") for i in range(200)]
    answers = answers_of(serve_concurrently(batcher, requests))
    assert {a.model_version for a in answers} == {"v1", "v2"}
    assert len(store.commits) == 1
    logged = logged_version_labels(serving_harness)
    for request, answer in zip(requests, answers, strict=True):
        assert (answer.user_ref, answer.image_type) == (request.user_ref, request.image_type)
        assert answer.label == {"v1": "1", "v2": "2"}[answer.model_version]
        row = store.predictions[answer.prediction_id]
        assert (row.user_ref, row.image_sha256) == (request.user_ref, sha(request.image))
        assert logged[answer.prediction_id] == answer.model_version


def test_an_invalid_request_is_refused_at_once_without_waiting_for_a_batch(
    batcher: PredictionBatcher, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    async def scenario() -> tuple[BaseException | None, list[str]]:
        batcher.start()
        turns: list[str] = []
        asyncio.get_running_loop().call_soon(turns.append, "the loop turned")  # runs only if submit suspends
        try:
            await batcher.submit(PredictRequest(png(1), image_type=""))
        except InvalidInput as refused:
            return refused, list(turns)
        finally:
            await batcher.close()
        return None, list(turns)

    refused, turns = run(scenario)
    assert isinstance(refused, InvalidInput)
    assert str(refused) == "image_type: image_type must have 1 to 64 characters"
    assert turns == []  # refused before it ever waited
    assert (predictor.passes, store.attempts) == ([], 0)


def test_an_image_that_does_not_decode_fails_only_its_callers_request(
    batcher: PredictionBatcher, store: CommitCountingStore
) -> None:
    outcomes = serve_concurrently(batcher, [PredictRequest(png(1)), PredictRequest(NOT_DECODABLE),
                                            PredictRequest(png(2))])
    assert isinstance(outcomes[1], InvalidInput) and "image does not decode" in str(outcomes[1])
    answers = answers_of([outcomes[0], outcomes[2]])
    assert sorted(store.predictions) == sorted(a.prediction_id for a in answers)


def test_a_failed_commit_fails_every_caller_of_its_batch(
    batcher: PredictionBatcher, store: CommitCountingStore
) -> None:
    store.failure = OSError("disk I/O error")
    outcomes = serve_concurrently(batcher, [PredictRequest(png(i)) for i in range(5)])
    assert len(outcomes) == 5 and all(isinstance(o, OSError) and "disk I/O error" in str(o) for o in outcomes)
    assert (store.attempts, store.predictions) == (1, {})


def test_the_batcher_keeps_serving_after_a_failed_batch(batcher: PredictionBatcher, store: CommitCountingStore) -> None:
    async def scenario() -> tuple[list[Served | BaseException], Served]:
        batcher.start()
        try:
            store.failure = OSError("disk I/O error")
            failed = await asyncio.gather(*(batcher.submit(PredictRequest(png(i))) for i in range(2)),
                                          return_exceptions=True)
            store.failure = None
            return list(failed), await batcher.submit(PredictRequest(png(9), user_ref="later"))
        finally:
            await batcher.close()

    failed, later = run(scenario)
    assert all(isinstance(o, OSError) for o in failed)
    assert list(store.predictions) == [later.prediction_id]


def test_without_production_every_caller_is_told(predictor: DecodingPredictor, store: CommitCountingStore) -> None:
    batcher = PredictionBatcher(build_harness(predictor=predictor, feedback=store).app.serving, max_batch=8)
    outcomes = serve_concurrently(batcher, [PredictRequest(png(i)) for i in range(3)])
    assert len(outcomes) == 3
    assert all(isinstance(o, IllegalTransition) and "no version is in production" in str(o) for o in outcomes)
    assert store.attempts == 0


def test_a_caller_that_gives_up_does_not_keep_the_others_from_their_answers(
    batcher: PredictionBatcher, store: CommitCountingStore
) -> None:
    async def scenario() -> tuple[list[Served], asyncio.Task[Served]]:
        batcher.start()
        try:
            waiting = [asyncio.create_task(batcher.submit(PredictRequest(png(i), user_ref=f"user-{i}")))
                       for i in range(3)]
            await asyncio.sleep(0)  # all three are queued for the same batch
            waiting[1].cancel()
            return list(await asyncio.gather(waiting[0], waiting[2])), waiting[1]
        finally:
            await batcher.close()

    answers, gave_up = run(scenario)
    assert gave_up.cancelled()
    assert [a.user_ref for a in answers] == ["user-0", "user-2"]
    assert all(a.prediction_id in store.predictions for a in answers)


def test_closing_classifies_and_commits_every_pending_request(
    serving_harness: Harness, store: CommitCountingStore
) -> None:
    batcher = PredictionBatcher(serving_harness.app.serving, max_batch=3)

    async def scenario() -> tuple[list[str | None], list[Served]]:
        batcher.start()
        waiting = [asyncio.create_task(batcher.submit(PredictRequest(png(i), user_ref=f"user-{i}")))
                   for i in range(10)]
        await asyncio.sleep(0)  # every request is queued; none is classified yet
        assert store.attempts == 0 and not any(task.done() for task in waiting)
        await batcher.close()
        committed = sorted(row.user_ref for row in store.predictions.values())  # before any caller resumes
        return committed, list(await asyncio.gather(*waiting))

    committed, answers = run(scenario)
    assert committed == sorted(f"user-{i}" for i in range(10))
    assert [len(rows) for rows in store.commits] == [3, 3, 3, 1]
    assert [a.user_ref for a in answers] == [f"user-{i}" for i in range(10)]


def test_a_request_after_close_is_refused_and_not_logged(
    batcher: PredictionBatcher, predictor: DecodingPredictor, store: CommitCountingStore
) -> None:
    async def scenario() -> None:
        batcher.start()
        await batcher.close()
        with pytest.raises(RuntimeError, match="shutting down"):
            await batcher.submit(PredictRequest(png(1)))
        await batcher.close()  # closing twice is harmless

    run(scenario)
    assert (predictor.passes, store.attempts) == ([], 0)


def test_a_request_before_start_is_refused_rather_than_left_waiting(
    batcher: PredictionBatcher, store: CommitCountingStore
) -> None:
    async def scenario() -> None:
        with pytest.raises(RuntimeError):
            await batcher.submit(PredictRequest(png(1)))

    run(scenario)
    assert store.attempts == 0


def test_the_batcher_starts_only_inside_a_running_event_loop(batcher: PredictionBatcher) -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        batcher.start()
