"""Software-defined assets (orchestration only: read, call analytics/db, report metadata)."""
