"""The read models against the aggregates they summarise, on every view store: same answers as a replay, rebuilt
identically, never doubled by a second projector, and consistent after a process is killed mid-update."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from adapters.sql.view_store import SqlViewStore
from application.documents import campaign_summary, rollout_summary, version_summary
from application.ports import ViewDocument
from tests.harness import Harness, build_harness, sql_ledger
from tests.steps.rollout_steps import make_candidate

ROOT = Path(__file__).resolve().parents[2]


def _sqlite(tmp_path: Path) -> Iterator[Harness]:
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    yield build_harness(feedback=store, ledger=sql_ledger(f"sqlite:///{tmp_path / 'events.db'}", store))
    store.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "memory":
        yield build_harness()
    elif request.param == "sqlite":
        yield from _sqlite(tmp_path)
    else:
        url = request.getfixturevalue("postgres_url")
        store = SqlAlchemyFeedbackStore(url)
        yield build_harness(feedback=store, ledger=sql_ledger(url, store))
        store.close()


def a_year_of_history(h: Harness) -> None:
    """v1 in production breaches and opens a campaign; v2 and v3 are validated; v2 is rolled out, paused, resumed
    and aborted; v3 is rolled out and promoted phase after phase at once; then v1 is restored."""
    h.register()
    h.serve("v1", 100, satisfied=50)
    h.clock.advance(timedelta(hours=1))
    h.app.tick(campaign_steps=False)
    make_candidate(h, "v2")
    make_candidate(h, "v3")
    h.app.rollouts.start("v2", actor="user:ops")
    h.app.rollouts.pause(reason="look closer", actor="user:ops")
    h.app.rollouts.resume(reason="fine", actor="user:ops")
    h.app.rollouts.abort(reason="changed our mind", actor="user:ops")
    h.app.rollouts.start("v3", actor="user:ops")
    while h.app.rollouts.status() is not None:
        h.app.rollouts.promote_now(reason="urgent fix", actor="user:ops")
    h.app.rollouts.rollback_to("v1", reason="v3 misbehaves", actor="user:ops")


def replayed(h: Harness) -> dict[str, object]:
    """What the listings showed before the read models: every aggregate replayed from its events."""
    ledger = h.app.ledger
    versions = ledger.versions()
    labels = {str(v.id): v.label for v in versions}
    return {
        "versions": [version_summary(v, labels.get(v.parent_id) if v.parent_id else None) for v in versions],
        "campaigns": [campaign_summary(c) for c in ledger.campaigns()],
        "rollouts": [rollout_summary(r) for r in ledger.rollouts()],
    }


def viewed(h: Harness) -> dict[str, object]:
    read = h.app.ledger.read
    return {"versions": read.versions(), "campaigns": read.campaigns(), "rollouts": read.documents("rollout")}


def test_the_views_answer_what_a_replay_answers(harness: Harness) -> None:
    a_year_of_history(harness)
    assert viewed(harness) == replayed(harness)
    read = harness.app.ledger.read
    assert read.rollout_status() is None  # the last rollout was promoted, then v1 restored
    assert read.versions()[0]["state"] == "production" and read.versions()[0]["label"] == "v1"
    log = harness.app.ledger.recorder.max_notification_id()
    history = harness.app.audit.history()
    assert [row["position"] for row in history] == sorted({row["position"] for row in history})
    assert len(history) == len(list(harness.app.ledger.all_events())) and history[-1]["position"] == log


def test_a_rebuild_gives_the_same_views(harness: Harness) -> None:
    a_year_of_history(harness)
    before = (viewed(harness), harness.app.audit.history_json())
    harness.app.ledger.read.rebuild()
    assert (viewed(harness), harness.app.audit.history_json()) == before


def test_the_history_filters_read_the_concerns(harness: Harness) -> None:
    a_year_of_history(harness)
    from application.audit import HistoryFilter

    rows = harness.app.audit.history(HistoryFilter(version="v2"))
    assert {r["event"] for r in rows} >= {"Registered", "Started", "Paused", "Resumed", "RolledBack"}
    assert all("v2" in (r["version"], r["details"].get("candidate_label"), r["details"].get("stable_label"))
               for r in rows)
    campaign = harness.app.audit.history(HistoryFilter(campaign="1"))
    assert campaign and {r["aggregate"] for r in campaign} == {"RetrainCampaign"}


def test_a_second_projector_changes_nothing_it_did_not_see_first(tmp_path: Path) -> None:
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    events = f"sqlite:///{tmp_path / 'events.db'}"
    first = build_harness(feedback=store, ledger=sql_ledger(events, store))
    second = sql_ledger(events, store)
    first.register()
    first.register(production=False)
    assert second.read.catch_up() == first.app.ledger.read.catch_up()
    views = SqlViewStore(store.engine)
    stale = ViewDocument("version", "x", "vX", "registered", False, 1, {})
    assert views.advance(0, 1, [stale], []) is False  # the position moved on: nothing is written
    assert views.ids("version") == first.app.ledger.read.ids("version")
    assert len(first.app.audit.history()) == first.app.ledger.recorder.max_notification_id()
    store.close()


def test_views_ahead_of_the_log_are_rebuilt(tmp_path: Path) -> None:
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    old = build_harness(feedback=store, ledger=sql_ledger(f"sqlite:///{tmp_path / 'old.db'}", store))
    old.register()
    old.register(production=False)
    new = build_harness(feedback=store, ledger=sql_ledger(f"sqlite:///{tmp_path / 'new.db'}", store))
    new.register()  # a different, shorter log: the views must follow it, not the old one
    assert [d["label"] for d in new.app.ledger.read.versions()] == ["v1"]
    store.close()


KILLED_MID_UPDATE = """
import os, signal, sys
from adapters.sql.feedback_store import SqlAlchemyFeedbackStore
from adapters.sql.view_store import SqlViewStore
from tests.harness import build_harness, sql_ledger
from tests.steps.rollout_steps import make_candidate

home = sys.argv[1]
store = SqlAlchemyFeedbackStore(f"sqlite:///{home}/feedback.db")
h = build_harness(feedback=store, ledger=sql_ledger(f"sqlite:///{home}/events.db", store))
h.register()
make_candidate(h, "v2")
h.app.rollouts.start("v2", actor="user:ops")  # saved; the views have not read these events yet
original = SqlViewStore.advance

def dying(self, start, end, documents, events):
    def kill(*_):
        os.kill(os.getpid(), signal.SIGKILL)
    from sqlalchemy import event
    event.listen(self.engine, "commit", kill)  # every row written, the transaction not yet committed
    return original(self, start, end, documents, events)

SqlViewStore.advance = dying
h.app.ledger.read.catch_up()
"""


def test_a_process_killed_between_an_event_and_its_view_leaves_consistent_views(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", KILLED_MID_UPDATE, str(tmp_path)], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    store = SqlAlchemyFeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    ledger = sql_ledger(f"sqlite:///{tmp_path / 'events.db'}", store)
    views = SqlViewStore(store.engine)
    log = ledger.recorder.max_notification_id()
    assert 0 < views.position() < log  # the killed update left nothing: the views stand where they were
    assert views.events() and json.loads(views.events()[-1])["position"] == views.position()
    h = build_harness(feedback=store, ledger=ledger)
    assert viewed(h) == replayed(h)  # the next read caught up
    assert views.position() == log
    assert [json.loads(r)["position"] for r in views.events()] == [n.id for n in _notifications(ledger)]
    assert ledger.read.rollout_status()["candidate"] == "v2"
    store.close()


def _notifications(ledger: object) -> list:
    return ledger.recorder.select_notifications(start=None, limit=1_000_000)  # type: ignore[attr-defined]


def test_every_event_records_when_it_was_written_beside_the_time_it_carries(harness: Harness) -> None:
    from datetime import UTC, datetime

    before = datetime.now(UTC)
    a_year_of_history(harness)  # on a simulated clock in 2026-01
    rows = harness.app.audit.history()
    assert rows and all(datetime.fromisoformat(r["time"]) < before for r in rows)
    assert all(before <= datetime.fromisoformat(r["recorded_at"]) <= datetime.now(UTC) for r in rows)
    assert all("recorded_at" not in r["details"] for r in rows)
