"""Steps of the audit trail (section 3)."""
