"""SQLAlchemy 2.0 models and the one engine factory. The schema changes only by migrations/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every Lifeline table."""


class UserProfile(Base):
    """The current profile of one user, upserted by the sink (latest state wins)."""

    __tablename__ = "user_profiles"
    __table_args__ = (Index("ix_user_profiles_last_seen", "last_seen"),)

    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events: Mapped[int] = mapped_column(Integer)
    purchases: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Float)
    sessions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cart_adds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cart_abandons: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_purchase: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    top_categories: Mapped[list[str] | None] = mapped_column(JSON)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    lifecycle: Mapped[str | None] = mapped_column(String(32))
    value_segment: Mapped[str | None] = mapped_column(String(32))
    interest_segment: Mapped[str | None] = mapped_column(String(128))
    source_offset: Mapped[int] = mapped_column(BigInteger, default=-1, server_default="-1")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class SegmentMembership(Base):
    """The segment each user is in now, per dimension (lifecycle, value, interest)."""

    __tablename__ = "segment_memberships"
    __table_args__ = (Index("ix_segment_memberships_segment", "dimension", "segment"),)

    user_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    segment: Mapped[str | None] = mapped_column(String(128))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    change_id: Mapped[str] = mapped_column(String(64))


class SegmentTransition(Base):
    """Every segment change ever emitted (history); ``change_id`` is deterministic."""

    __tablename__ = "segment_transitions"

    change_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(256), index=True)
    dimension: Mapped[str] = mapped_column(String(16))
    from_segment: Mapped[str | None] = mapped_column(String(128))
    to_segment: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str] = mapped_column(String(64))


class ChurnAlert(Base):
    """Win-back alerts, treated and control (``control`` alerts are never published)."""

    __tablename__ = "churn_alerts"

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(256), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    churn_risk: Mapped[float] = mapped_column(Float)
    p_alive: Mapped[float] = mapped_column(Float)
    lifecycle: Mapped[str | None] = mapped_column(String(32))
    value_segment: Mapped[str | None] = mapped_column(String(32))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    control: Mapped[bool] = mapped_column(Boolean)
    model_version: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WinbackOutcome(Base):
    """A purchase within the attribution window after an alert (one per alert)."""

    __tablename__ = "winback_outcomes"

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(32))
    revenue: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    control: Mapped[bool] = mapped_column(Boolean)


class ModelVersion(Base):
    """Each published model snapshot and its live quality (progressive validation)."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    examples: Mapped[int] = mapped_column(Integer)
    roc_auc: Mapped[float | None] = mapped_column(Float)
    log_loss: Mapped[float | None] = mapped_column(Float)
    base_rate: Mapped[float | None] = mapped_column(Float)
    drifts: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    # 0003: the churn candidate that serves, every candidate's window metrics, the BG/NBD fit
    serving: Mapped[str | None] = mapped_column(String(32))
    candidates: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    priors: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RejectedRow(Base):
    """A row the database refused as data, set aside so that it never blocks a partition.

    Strings are kept with control characters escaped and cut to 512 characters; the id is a
    digest of the table and the row (a replayed flush records it once).
    """

    __tablename__ = "rejected_rows"

    rejection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(256), index=True)
    row_key: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    row: Mapped[dict[str, Any]] = mapped_column(JSON)
    rejected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


def make_engine(url: str, *, connect_timeout: float | None = None,
                statement_timeout: float | None = None, lock_timeout: float | None = None,
                **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file so the demo just works.

    On PostgreSQL, ``connect_timeout`` (s, the driver's), ``statement_timeout`` and
    ``lock_timeout`` (s, set per session) make a hung connection, query or lock wait fail
    instead of blocking the sink forever; the sink retries them as transient errors.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    elif url.startswith(("postgresql://", "postgresql+psycopg2://")):
        # The sink writes with COPY (streams/storage/upserts.py). Its executemany path (a
        # batch COPY cannot render exactly, write_rows(copy=False), other callers) runs
        # INSERT .. ON CONFLICT without RETURNING, which SQLAlchemy 2.1 does not turn into
        # "insertmanyvalues" (sqlalchemy#13130): psycopg2 would run it one round trip per row
        # (~0.25 ms each, releasing and re-taking the GIL every time). execute_batch sends
        # pages of statements instead (each row still rendered as a whole statement).
        kwargs.setdefault("executemany_mode", "values_plus_batch")
        kwargs.setdefault("executemany_batch_page_size", 500)
        connect_args = dict(kwargs.pop("connect_args", {}))
        if connect_timeout:
            connect_args.setdefault("connect_timeout", max(1, round(connect_timeout)))
        options = [f"-c {name}={round(seconds * 1000)}" for name, seconds in (
            ("statement_timeout", statement_timeout), ("lock_timeout", lock_timeout))
            if seconds]
        if options:
            connect_args["options"] = " ".join([connect_args.get("options", ""), *options]).strip()
        kwargs["connect_args"] = connect_args
    return create_engine(url, pool_pre_ping=True, **kwargs)
