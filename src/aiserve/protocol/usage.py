"""`GET /v1/usage`: what a user (or one key) has used, requests, success rate and latency first."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class UsageSlice(BaseModel):
    """Counts for one model, one route or one day."""

    requests: int
    successful_requests: int
    input_tokens: int
    output_tokens: int
    images: int


class ModelUsage(UsageSlice):
    """One model's share."""

    model: str | None


class RouteUsage(UsageSlice):
    """One route's share: `/v1/embeddings`, or `mcp/<tool>` for a tool called over MCP."""

    route: str


class DayUsage(UsageSlice):
    """One UTC day's share."""

    day: date


class UsageReport(BaseModel):
    """Totals over the asked time range, then by model, by route and by day."""

    user_id: int
    user: str
    key: str | None
    """The key's prefix when the report covers one key only."""
    start: datetime | None
    end: datetime | None
    total_requests: int
    successful_requests: int
    success_rate: float
    """Successful (2xx) answers over all answers, 0 when there were none."""
    avg_response_time_ms: float
    input_tokens: int
    output_tokens: int
    images: int
    by_model: list[ModelUsage]
    by_route: list[RouteUsage]
    by_day: list[DayUsage]
