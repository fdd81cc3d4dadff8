"""What notifications keep in PostgreSQL (tables of migration 0007)."""
