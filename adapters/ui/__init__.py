"""The web console: server-rendered pages of `retrain serve` (SPEC 5.3)."""
