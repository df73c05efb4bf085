"""Settings: environment over retrain.toml over defaults; an invalid one names itself."""

from __future__ import annotations

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
