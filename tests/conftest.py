"""Shared fixtures: environment for an isolated app, a Tansu broker, fresh PostgreSQL databases."""

from __future__ import annotations

import os
import uuid

# The app reads its settings at import: point it at nothing real before anything imports it.
os.environ.setdefault("LIFELINE_BROKER", "kafka://127.0.0.1:1")  # never dialled by unit/agent tests
os.environ.setdefault("LIFELINE_DATABASE_URL", "sqlite:///var/test-unused.db")
os.environ.setdefault("LIFELINE_APP_ID", f"test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("LIFELINE_PARTITIONS", "2")
os.environ.setdefault("LIFELINE_STORE", "memory://")
