"""`retrain campaign show` as text: one campaign told in lines, from its document and its candidate's."""

from __future__ import annotations

from typing import Any

from application.validation import describe_paired
from domain.rules.validation_gates import NOT_MEASURABLE

# How each trigger compares its observed figure with its threshold when it breaches (rule 4.1)
BREACHED_WHEN = {"satisfaction": "<", "image_type": "<", "error_rate": ">", "latency": ">", "negative_comments": ">="}


def campaign_lines(campaign: dict[str, Any], candidate: dict[str, Any] | None) -> list[str]:
    """The campaign's state, what opened it, its dataset, its strategy and its candidate with the gates it met."""
    return [*_heading(campaign), *_breaches(campaign), *_dataset(campaign.get("dataset")),
            *_strategy(campaign), *_candidate(campaign, candidate)]


def figure(value: Any) -> str:
    """A figure as read: at least two decimals (0.70), more when it has them (0.695), integers as they are."""
    if not isinstance(value, float):
        return "-" if value is None else str(value)
    return f"{value:.2f}" if round(value, 2) == value else f"{value:.4g}"


def breach_line(breach: dict[str, Any]) -> str:
    """`satisfaction: observed 0.62 < 0.70 over 100` (the window, when the campaign recorded it)."""
    name = breach["rule"] + (f"/{breach['segment']}" if breach.get("segment") else "")
    compared = BREACHED_WHEN.get(breach["rule"], "vs")
    window = f" over {breach['window']}" if breach.get("window") is not None else ""
    return f"{name}: observed {figure(breach.get('observed'))} {compared} {figure(breach.get('threshold'))}{window}"


def gate_line(gate: dict[str, Any]) -> str:
    """One validation gate: its verdict, both figures and its condition; a gate that could not be measured says on
    how many items, how many it needed and what to attach."""
    verdict = "passed" if gate.get("passed") else "FAILED"
    if gate.get("reason") == NOT_MEASURABLE:
        needed = f"{gate.get('items')} items, at least {gate.get('min_items')} needed"
        remedy = f"; {gate['remedy']}" if gate.get("remedy") else ""
        return f"{gate['name']} {verdict}, {gate['reason']}: {needed}{remedy}"
    if gate.get("reason"):
        verdict += f", {gate['reason'].replace('_', ' ')}"
    paired = f"; {describe_paired(gate['paired'])}" if gate.get("paired") else ""
    figures = (f"candidate {figure(gate.get('candidate'))} vs parent {figure(gate.get('parent'))} "
               f"({gate['condition']}{paired})")
    on = f" on {gate['items']} items" if gate.get("items") is not None and "items" not in gate["condition"] else ""
    return f"{gate['name']} {verdict}: {figures}{on}"


def _heading(campaign: dict[str, Any]) -> list[str]:
    state = campaign["state"] + (f" ({campaign['outcome']})" if campaign.get("outcome") else "")
    lines = [f"Campaign {campaign['number']} on {campaign['version']}: {state}", f"  id {campaign['id']}",
             f"  opened at {campaign['opened_at']}" +
             (f" by hand: {campaign['reason']}" if campaign.get("reason") else "")]
    if campaign.get("last_error"):
        lines.append(f"  last error (attempt {campaign.get('attempts')}): {campaign['last_error']}")
    return lines


def _breaches(campaign: dict[str, Any]) -> list[str]:
    if not campaign["breaches"]:
        return []
    return ["Breaches:", *(f"  {breach_line(b)}" for b in campaign["breaches"])]


def _dataset(dataset: dict[str, Any] | None) -> list[str]:
    if dataset is None:
        return ["Dataset: not curated yet"]
    excluded = ", ".join(f"{reason} {n}" for reason, n in dataset["excluded"].items() if n) or "none"
    lines = [f"Dataset: {dataset['included']} items included ({dataset.get('train_items', '?')} train, "
             f"{dataset.get('validation_items', '?')} validation), {dataset['awaiting_review']} awaiting review",
             f"  excluded: {excluded}"]
    if dataset.get("label_sources"):
        lines.append("  labels from: " + ", ".join(f"{source} {n}" for source, n in dataset["label_sources"].items()))
    if dataset.get("id"):
        lines.append(f"  id {dataset['id']}")
    return lines


def _strategy(campaign: dict[str, Any]) -> list[str]:
    if not campaign.get("strategy"):
        return ["Strategy: not chosen yet"]
    return [f"Strategy: {campaign['strategy']}", *(f"  {reason}" for reason in campaign.get("strategy_reasons") or [])]


def _candidate(campaign: dict[str, Any], candidate: dict[str, Any] | None) -> list[str]:
    if not campaign.get("candidate"):
        return ["Candidate: none yet"]
    validation = (candidate or {}).get("validation")
    if not validation:
        state = f" ({candidate['state']})" if candidate else ""
        return [f"Candidate: {campaign['candidate']}{state}, not validated yet"]
    failed = validation.get("failed") or []
    verdict = "validated" if validation.get("passed") else f"rejected (failed: {', '.join(failed)})"
    if candidate and candidate["state"] not in ("validated", "rejected"):
        verdict += f", now {candidate['state']}"
    lines = [f"Candidate: {campaign['candidate']}, {verdict}", *(f"  {gate_line(g)}" for g in validation["gates"])]
    per_type = (validation.get("figures") or {}).get("per_image_type") or {}
    for segment, figures in sorted(per_type.items()):
        accuracies = " vs ".join(f"{label} {figure(value)}" for label, value in figures.items() if label != "items")
        lines.append(f"  accuracy on {segment} images: {accuracies} on {figures.get('items')} items")
    return lines
