"""PostgreSQL storage: the ORM schema and the generic batched, idempotent database sink."""
