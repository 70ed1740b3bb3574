"""The state store: the only package that knows tables (SQLite by default, PostgreSQL by URL)."""
