"""Steps of rollback and backups (rule 4.8)."""
