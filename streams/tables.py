"""Faust tables: what they hold is in their names."""

from __future__ import annotations

import faust

from streams.app import app
from streams.settings import settings

# user id -> online_models.profile.UserState serialized by UserState.to_bytes().
profiles_for_user = app.Table(
    "profiles_for_user",
    default=None,
    schema=faust.Schema(key_type=str, value_type=bytes, key_serializer="json",
                        value_serializer="raw"),
    partitions=settings.partitions,
)
