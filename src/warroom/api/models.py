"""API shapes (pydantic) that the OpenAPI document publishes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class IngestReply(BaseModel):
    batch: str = Field(description="id of this batch; quarantined lines name it as source")
    records: int
    accepted: int
    quarantined: int
    duplicates: int
    late: int = Field(description="past the allowed lateness: counted and listed, not aggregated")
    reasons: list[dict[str, Any]] = Field(description="first quarantined lines: line, reason")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="viewer, watcher, commander, admin, ingest or merchant")
    name: str = Field("", max_length=100)
    merchant: str | None = Field(
        None,
        max_length=200,
        description="the merchant id a merchant token acts for (required for role "
        "merchant, refused for the others)",
    )


class TokenInfoOut(BaseModel):
    id: str
    role: str
    name: str
    created_ms: int
    revoked: bool
    merchant_id: str | None = None


class TokenCreated(TokenInfoOut):
    token: str = Field(description="shown once; only its SHA-256 is stored")


class SettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stale_after_seconds: float | None = Field(None, gt=0, le=3600)
    ingest_records_per_second: float | None = Field(None, ge=1, le=1e9)


class BroadcastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=280)


class AckReply(BaseModel):
    id: str
    acknowledged_by: str
