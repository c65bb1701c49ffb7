"""Faust tables: what they hold is in their names."""

from __future__ import annotations

from streams.app import app
from streams.settings import settings

# user id -> online_models.profile.UserState as its compact dict (UserState.to_dict()).
profiles_for_user = app.Table(
    "profiles_for_user",
    default=None,
    key_type=str,
    partitions=settings.partitions,
)
