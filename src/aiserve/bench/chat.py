"""`aiserve bench chat`: concurrent streaming chats: time to first token, per-stream and aggregate tokens/s.

Each client streams `/v1/chat/completions` answers of a fixed length back to back; a token is a content chunk. Every
level reports the longest gap between two tokens of a running stream; `--hostile` sends oversized prompts beside the
streams all the while (a conversation of 200,000 short messages, one message of 6 MB, each refused), to show that
the running streams keep their pace. `--structured` runs each level twice, free and held to a JSON schema, and
reports what constrained decoding costs. `--long-prompts` sends a distinct prompt of about 1,500 tokens beside the
streams now and then, and each level reports the longest gap between two tokens over the median one (chunked
prefill keeps it small). `--offline` runs the runtime in process for one stream, the single-stream decode speed.
Each level first runs a few unmeasured seconds (`WARMUP_S` unless told), so its figures are a steady state's, not
its streams all starting at once.

Every request is a distinct prompt, so no answer and no whole prompt can come from a cache (real traffic rarely repeats
a whole prompt). `--repeated-prompt` sends one prompt over and over instead, a labelled extra: after the first answer,
the kept prefix cache evaluates all but its last token.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from aiserve.bench.server import against
from aiserve.settings import Settings

PROMPT = "Write a short story about a robot who learns to paint."
SUBJECTS = ("paint", "sing", "cook", "sail", "garden", "dance", "write poems", "fly", "swim", "build bridges",
            "play chess", "knit", "repair clocks", "bake bread", "climb mountains", "tell jokes")  # fmt: skip
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string", "maxLength": 60},
                   "mood": {"enum": ["happy", "sad", "curious", "brave"]},
                   "story": {"type": "string", "minLength": 4000}},
    "required": ["title", "mood", "story"],
    "additionalProperties": False,
}  # fmt: skip
"""What `--structured` holds answers to. The story cannot end before `max_tokens`, so constrained answers are as long
as free ones and the two rates compare the cost of a token, not how soon a small model closes its JSON."""


class Bodies:
    """Request bodies, each a distinct prompt (or, with `repeated`, always `PROMPT`), and, with `schema`, held to
    it."""

    def __init__(
        self, model: str, max_tokens: int, schema: dict[str, Any] | None = None, *, repeated: bool = False
    ) -> None:
        self.model, self.max_tokens, self.schema, self.repeated = model, max_tokens, schema, repeated
        self._count = 0

    def next(self) -> bytes:
        """The next body."""
        self._count += 1
        subject = SUBJECTS[self._count % len(SUBJECTS)]
        prompt = (
            PROMPT
            if self.repeated
            else f"Write a short story, number {self._count}, about a robot who learns to {subject}."
        )
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                                "max_tokens": self.max_tokens, "temperature": 0.7, "seed": self._count,
                                "stream": True}  # fmt: skip
        if self.schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "story", "schema": self.schema}}
        return orjson.dumps(body)


@dataclass
class ChatLevel:
    """What one concurrency level measured."""

    concurrency: int
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0
    ttft_ms: list[float] = field(default_factory=list)
    stream_tokens_per_s: list[float] = field(default_factory=list)
    max_gap_ms: float = 0.0
    """The longest wait between two tokens of one stream."""
    gaps_ms: list[float] = field(default_factory=list)
    """Every wait between two tokens of one stream."""
    long_prompts: list[float] = field(default_factory=list)
    """Seconds each long prompt sent beside the streams took to answer (`--long-prompts`)."""
    hostile_refused: int = 0
    """Oversized prompts sent beside the streams and refused."""
    format: str = "text"
    """`text`, or `json_schema` when the answers were held to `SCHEMA`."""
    measured_from: float = 0.0
    """When the warm-up ended (`time.perf_counter`): requests sent earlier, and tokens that came earlier, are not
    counted, so a level's figures are those of a steady state, not of its streams all starting at once."""

    def to_dict(self) -> dict[str, Any]:
        """Summary figures."""
        ttft = sorted(self.ttft_ms) or [0.0]
        return {
            "concurrency": self.concurrency,
            "format": self.format,
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": round(self.requests / self.elapsed_s, 3) if self.elapsed_s else 0.0,
            "aggregate_tokens_per_s": round(self.tokens / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "stream_tokens_per_s": round(statistics.fmean(self.stream_tokens_per_s), 1)
            if self.stream_tokens_per_s
            else 0,
            "ttft_p50_ms": round(ttft[len(ttft) // 2], 1),
            "ttft_p95_ms": round(ttft[min(len(ttft) - 1, int(len(ttft) * 0.95))], 1),
            "max_gap_ms": round(self.max_gap_ms, 1),
            "median_gap_ms": round(statistics.median(self.gaps_ms), 1) if self.gaps_ms else 0.0,
            "p99_gap_ms": round(sorted(self.gaps_ms)[int(len(self.gaps_ms) * 0.99)], 1) if self.gaps_ms else 0.0,
            "max_gap_over_median": round(self.max_gap_ms / statistics.median(self.gaps_ms), 2) if self.gaps_ms else 0,
            "long_prompts": len(self.long_prompts),
            "long_prompt_p50_s": round(statistics.median(self.long_prompts), 2) if self.long_prompts else None,
            "hostile_refused": self.hostile_refused,
        }


@dataclass
class _Answer:
    """One streamed answer's timing as its tokens arrive."""

    started: float
    counted: bool
    """Sent after the warm-up: its request, first token and gaps count."""
    first: float | None = None
    last: float = 0.0
    tokens: int = 0

    def token(self, level: ChatLevel) -> None:
        """A content chunk arrived."""
        now = time.perf_counter()
        self.tokens += 1
        if now >= level.measured_from:
            level.tokens += 1
        if self.first is None:
            self.first = now
        elif self.counted:
            level.max_gap_ms = max(level.max_gap_ms, (now - self.last) * 1000)
            level.gaps_ms.append((now - self.last) * 1000)
        self.last = now

    def done(self, level: ChatLevel) -> None:
        """The answer ended."""
        if not self.counted:
            return
        level.requests += 1
        if self.first is not None:
            level.ttft_ms.append((self.first - self.started) * 1000)
            if self.tokens > 1 and self.last > self.first:
                level.stream_tokens_per_s.append((self.tokens - 1) / (time.perf_counter() - self.first))


async def _client(url: str, bodies: Bodies, level: ChatLevel, until: float, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        while time.monotonic() < until:
            body = bodies.next()
            started = time.perf_counter()
            answer = _Answer(started, counted=started >= level.measured_from)
            try:
                async with client.stream("POST", "/v1/chat/completions", content=body,
                                         headers={"content-type": "application/json"}) as response:  # fmt: skip
                    if response.status_code != 200:
                        level.errors += 1
                        await response.aread()
                        continue
                    async for line in response.aiter_lines():
                        if not line.startswith("data: {"):
                            continue
                        choices = orjson.loads(line[6:]).get("choices") or [{}]
                        if choices[0].get("delta", {}).get("content"):
                            answer.token(level)
            except httpx.HTTPError:
                level.errors += 1
                continue
            answer.done(level)


def hostile_bodies(model: str) -> list[bytes]:
    """Prompts no model can take: many messages, and one huge message."""
    many = [{"role": "user", "content": "hi"}] * 200_000
    huge = [{"role": "user", "content": "word " * 1_200_000}]
    return [orjson.dumps({"model": model, "messages": m, "max_tokens": 8, "stream": True}) for m in (many, huge)]


async def _hostile(url: str, bodies: list[bytes], level: ChatLevel, until: float, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        while time.monotonic() < until:
            for body in bodies:
                try:
                    answer = await client.post("/v1/chat/completions", content=body,
                                               headers={"content-type": "application/json"})  # fmt: skip
                except httpx.HTTPError:  # refused before the whole body was sent: the server closed the connection
                    level.hostile_refused += 1
                    continue
                level.hostile_refused += answer.status_code in (400, 413, 422)


WARMUP_S = 3.0
"""Unmeasured seconds at the start of each level."""

LONG_PROMPT_TOKENS = 1500
LONG_PROMPT_EVERY_S = 6.0
"""The pause after each long prompt's answer: long prompts arrive now and then, between stretches of plain steps."""


def long_prompt(model: str, n: int) -> bytes:
    """A distinct prompt of about `LONG_PROMPT_TOKENS` tokens that asks for one token."""
    notes = " ".join(f"Item {n}-{i}: crate {i * 13 % 997} left dock {i % 9} at {i % 24}:00." for i in range(61))
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": f"Summarise: {notes}"}],
                         "max_tokens": 1, "temperature": 0})  # fmt: skip


async def _long_prompts(url: str, model: str, level: ChatLevel, until: float, headers: dict[str, str]) -> None:
    """Long prompts, now and then, arriving while the streams run (each answered with one token)."""
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        await asyncio.sleep(1.0)  # the streams are running first
        n = 0
        while time.monotonic() < until:
            n += 1
            started = time.perf_counter()
            answer = await client.post("/v1/chat/completions", content=long_prompt(model, n),
                                       headers={"content-type": "application/json"})  # fmt: skip
            if answer.status_code == 200:
                level.long_prompts.append(time.perf_counter() - started)
            else:
                level.errors += 1
            await asyncio.sleep(LONG_PROMPT_EVERY_S)


async def _level(
    url: str, bodies: Bodies, concurrency: int, duration_s: float, api_key: str | None, hostile: list[bytes],
    long_prompts: bool = False, warmup_s: float = WARMUP_S,
) -> ChatLevel:  # fmt: skip
    level = ChatLevel(concurrency, format="json_schema" if bodies.schema is not None else "text")
    level.measured_from = time.perf_counter() + warmup_s
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    until = started + warmup_s + duration_s
    beside = [_hostile(url, hostile, level, until, headers)] if hostile else []
    if long_prompts:
        beside.append(_long_prompts(url, bodies.model, level, until, headers))
    await asyncio.gather(*(_client(url, bodies, level, until, headers) for _ in range(concurrency)), *beside)
    level.elapsed_s = time.perf_counter() - level.measured_from  # to the last answer's end, as its tokens count
    return level


def offline_decode(settings: Settings, model: str, max_tokens: int) -> dict[str, Any]:
    """Single-stream tokens/s of the runtime, in process."""
    from aiserve.engine.backends.generative import GenerationBackend
    from aiserve.engine.protocol import Finished, GenerationRequest, Message, SamplingParams
    from aiserve.registry.catalog import catalog
    from aiserve.registry.registry import find_spec, load_backend

    backend = load_backend(settings, find_spec(model, catalog(settings)), warmup_batch=1)
    assert isinstance(backend, GenerationBackend)
    request = GenerationRequest(
        messages=(Message("user", PROMPT),), params=SamplingParams(max_tokens=max_tokens, temperature=0)
    )
    started = time.perf_counter()
    tokens = sum(e.completion_tokens for e in backend.generate(request, lambda: False) if isinstance(e, Finished))
    elapsed = time.perf_counter() - started
    backend.unload()
    return {"runtime": backend.runtime, "tokens": tokens, "tokens_per_s": round(tokens / elapsed, 1)}


def run_chat_bench(
    settings: Settings, *, model: str, concurrency: tuple[int, ...], duration_s: float, max_tokens: int,
    url: str | None, offline: bool, api_key: str | None = None, hostile: bool = False, structured: bool = False,
    long_prompts: bool = False, repeated: bool = False, warmup_s: float = WARMUP_S,
) -> dict[str, Any]:  # fmt: skip
    """Sweep concurrent streams; the ratio is aggregate tokens/s at 8 streams over the 1-stream rate. With
    `structured`, each level runs free then held to `SCHEMA`, and `structured_over_free` gives the constrained
    aggregate rate over the free one at each level. With `repeated`, every request sends the same prompt."""
    bad = hostile_bodies(model) if hostile else []
    formats = [None, SCHEMA] if structured else [None]

    def sweep(target: str) -> list[dict[str, Any]]:
        return [asyncio.run(_level(target, Bodies(model, max_tokens, schema, repeated=repeated), c, duration_s,
                                   api_key, bad, long_prompts, warmup_s)).to_dict()
                for c in concurrency for schema in formats]  # fmt: skip

    levels = against(url, model, settings.data_dir, sweep)
    rates = {lv["concurrency"]: lv["aggregate_tokens_per_s"] for lv in levels if lv["format"] == "text"}
    ratio = rates[8] / rates[1] if rates.get(1) and rates.get(8) else None
    report: dict[str, Any] = {"model": model, "cpus": os.cpu_count(), "max_tokens": max_tokens, "levels": levels,
                              "ratio_aggregate8_over_single": ratio, "hostile": hostile,
                              "prompts": "repeated" if repeated else "distinct", "warmup_s": warmup_s}  # fmt: skip
    if structured:
        held = {lv["concurrency"]: lv["aggregate_tokens_per_s"] for lv in levels if lv["format"] == "json_schema"}
        report["structured_over_free"] = {c: round(held[c] / rates[c], 3) if rates.get(c) else None for c in held}
    if offline:
        report["offline"] = offline_decode(settings, model, max_tokens)
    return report
