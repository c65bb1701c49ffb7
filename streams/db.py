"""SQLAlchemy 2.0 models and the one engine factory. The schema changes only by migrations/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    create_engine,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every Lifeline table."""


class UserProfile(Base):
    """The current profile of one user, upserted by the sink (latest state wins)."""

    __tablename__ = "user_profiles"

    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events: Mapped[int] = mapped_column(Integer)
    purchases: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Float)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    cart_adds: Mapped[int] = mapped_column(Integer, default=0)
    cart_abandons: Mapped[int] = mapped_column(Integer, default=0)
    last_purchase: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    top_categories: Mapped[list[str] | None] = mapped_column(JSON)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    lifecycle: Mapped[str | None] = mapped_column(String(32))
    value_segment: Mapped[str | None] = mapped_column(String(32))
    interest_segment: Mapped[str | None] = mapped_column(String(128))
    source_offset: Mapped[int] = mapped_column(BigInteger, default=-1)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file so the demo just works."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    return create_engine(url, pool_pre_ping=True, **kwargs)
