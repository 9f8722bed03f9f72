"""Storage: SQLAlchemy 2 models, Alembic migrations, engines and bulk writers."""
