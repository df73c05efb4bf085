"""Driving adapter: the `retrain` command line (Typer)."""
