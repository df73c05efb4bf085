"""Settings: environment over retrain.toml over defaults; an invalid one names itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from application.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RETRAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_procedures_numbers() -> None:
    settings = load_settings()
    assert settings.triggers.satisfaction_min == 0.70
    assert settings.triggers.satisfaction_window == 100
    assert settings.triggers.latency_factor == 1.5
    assert settings.triggers.error_rate_max == 0.05
    assert settings.triggers.negative_comments_min == 20
    assert [(p.percent, p.hours) for p in settings.rollout.plan] == [(10, 24), (50, 48)]
    assert settings.event_store_url == "sqlite:///.retrain/events.db"


def test_the_environment_overrides_the_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "retrain.toml").write_text("[triggers]\nsatisfaction_min = 0.6\nlatency_window = 40\n")
    monkeypatch.setenv("RETRAIN_TRIGGERS__SATISFACTION_MIN", "0.65")
    settings = load_settings()
    assert settings.triggers.satisfaction_min == 0.65
    assert settings.triggers.latency_window == 40


def test_an_invalid_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_TRIGGERS__LATENCY_WINDOW", "-3")
    with pytest.raises(SettingsError, match="triggers.latency_window"):
        load_settings()


def test_an_unknown_setting_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "retrain.toml").write_text("[triggers]\nsatisfaction_minimum = 0.6\n")
    with pytest.raises(SettingsError, match="satisfaction_minimum"):
        load_settings()


def test_a_rollout_plan_must_increase(tmp_path: Path) -> None:
    (tmp_path / "retrain.toml").write_text("[rollout]\nplan = [{percent = 50, hours = 1}, {percent = 10, hours = 1}]\n")
    with pytest.raises(SettingsError, match="rollout"):
        load_settings()


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("RETRAIN_TRIGGERS__LATENCY_FACTOR", "inf", "triggers.latency_factor: Input should be a finite number"),
    ("RETRAIN_TRIGGERS__SATISFACTION_MIN", "nan", "triggers.satisfaction_min: Input should be a finite number"),
    ("RETRAIN_VALIDATION__LATENCY_FACTOR", "1e400", "validation.latency_factor: Input should be a finite number"),
    ("RETRAIN_ROLLOUT__PLAN", '[{"percent": 10, "hours": "Infinity"}]', "rollout.plan.0.hours"),
    ("RETRAIN_WORKER__LEASE_SECONDS", "inf", "worker.lease_seconds: Input should be a finite number"),
])
def test_a_number_that_is_not_finite_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                                   value: str, named: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings()


@pytest.mark.parametrize("variable", ["RETRAIN_TRIGGERS", "RETRAIN_ROLLOUT__PLAN"])
def test_an_environment_value_that_is_not_json_names_its_setting(monkeypatch: pytest.MonkeyPatch,
                                                                 variable: str) -> None:
    monkeypatch.setenv(variable, "{bad")
    with pytest.raises(SettingsError, match=r"invalid setting (triggers|rollout).*not valid JSON"):
        load_settings()


@pytest.mark.parametrize("name", ["event_store", "feedback_store"])
def test_a_sqlite_url_into_a_missing_directory_is_refused_and_creates_nothing(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "typo" / "deeper"
    with pytest.raises(SettingsError, match=f"invalid settings: {name}: the directory {missing} does not exist"):
        load_settings(**{name: f"sqlite:///{missing}/store.db"})
    assert not (tmp_path / "typo").exists()


def test_a_sqlite_url_into_an_existing_directory_is_accepted(tmp_path: Path) -> None:
    assert load_settings(event_store=f"sqlite:///{tmp_path}/events.db").event_store_url.endswith("/events.db")


def test_a_world_size_that_does_not_spread_evenly_over_the_nodes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_TRAINING__NODES", "2")
    monkeypatch.setenv("RETRAIN_TRAINING__WORLD_SIZE", "3")
    with pytest.raises(SettingsError,
                       match=r"invalid setting training: world_size \(3\) must be a multiple of nodes \(2\)"):
        load_settings()


def test_the_campaign_cooldown_is_a_day_unless_set_in_seconds_or_as_an_iso_duration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings().campaigns.cooldown == timedelta(hours=24)
    (tmp_path / "retrain.toml").write_text("[campaigns]\ncooldown = 21600\n")
    assert load_settings().campaigns.cooldown == timedelta(hours=6)
    monkeypatch.setenv("RETRAIN_CAMPAIGNS__COOLDOWN", "PT15M")
    assert load_settings().campaigns.cooldown == timedelta(minutes=15)


def test_a_negative_campaign_cooldown_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_CAMPAIGNS__COOLDOWN", "-1")
    with pytest.raises(SettingsError, match="campaigns.cooldown"):
        load_settings()


def test_every_validation_gate_needs_100_test_items_and_20_validation_items_by_default() -> None:
    minimums = load_settings().validation.min_items
    assert (minimums.test, minimums.validation) == (100, 20)


def test_the_minimum_items_of_the_gates_come_from_the_file_and_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "retrain.toml").write_text("[validation.min_items]\ntest = 250\nvalidation = 40\n")
    monkeypatch.setenv("RETRAIN_VALIDATION__MIN_ITEMS__VALIDATION", "30")
    minimums = load_settings().validation.min_items
    assert (minimums.test, minimums.validation) == (250, 30)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_gate_minimum_of_no_item_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("RETRAIN_VALIDATION__MIN_ITEMS__TEST", value)
    with pytest.raises(SettingsError, match=r"validation\.min_items\.test"):
        load_settings()
