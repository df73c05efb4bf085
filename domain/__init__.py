"""The procedure's domain: aggregates whose events are the audit trail, and the rules as pure functions."""
