"""The accounts tables, as SQLAlchemy 2 typed mappings; Alembic migrations create them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Root of every accounts table."""


class Account(Base):
    """A user or an organisation; both own models and can be named in ``whoami``."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "user" | "org"
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    tier: Mapped[str] = mapped_column(String(32), default="free")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Membership(Base):
    """A user's place in an organisation."""

    __tablename__ = "memberships"

    org_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="read")  # "read" | "write" | "admin"


class Token(Base):
    """An access token: a public selector and the SHA-256 of its secret part, never the token itself."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    selector: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ModelAccess(Base):
    """Who owns a model and whether it is private; a model with no row is public and unowned."""

    __tablename__ = "model_access"

    model_id: Mapped[str] = mapped_column(String(193), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True
    )
    private: Mapped[bool] = mapped_column(Boolean, default=False)


class UsageRecord(Base):
    """One metered call: who, which model and task, the outcome and what it cost."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_at_ms", "at_ms"), Index("ix_usage_token_at", "token_id", "at_ms"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)  # epoch milliseconds: buckets are integer arithmetic
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client: Mapped[str] = mapped_column(String(64))  # "token:<id>" or "ip:<address>"
    model: Mapped[str] = mapped_column(String(193), index=True)
    task: Mapped[str] = mapped_column(String(48))
    route: Mapped[str] = mapped_column(String(16))  # "hf" | "tgi" | "openai"
    status: Mapped[int] = mapped_column(Integer)
    input_count: Mapped[int] = mapped_column(Integer, default=0)
    output_count: Mapped[int] = mapped_column(Integer, default=0)
    unit: Mapped[str] = mapped_column(String(8))  # "tokens" | "items" | "chars" | "audio_ms"
    compute_ms: Mapped[int] = mapped_column(Integer, default=0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    endpoint: Mapped[str | None] = mapped_column(String(193), nullable=True)  # "namespace/name"


class EndpointRow(Base):
    """An Inference Endpoint's stored spec (JSON, as ``types.endpoints.EndpointSpec``) and its history."""

    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("namespace", "name", name="uq_endpoints_namespace_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    namespace: Mapped[str] = mapped_column(String(96))
    name: Mapped[str] = mapped_column(String(63))
    spec: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(96))
    updated_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
