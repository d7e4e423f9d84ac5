"""Concurrent requests are batched; a full queue answers 503 with Retry-After; the server stays healthy."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e

MODEL = "all-minilm-l6-v2"
LABEL = "all-minilm-l6-v2@1"  # metrics and logs name the exact version


def metric(text: str, name: str) -> float:
    pattern = rf'^{re.escape(name)}{{model="{LABEL}"}} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def fire(url: str, bodies: Sequence[Mapping[str, object]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        return await asyncio.gather(*(client.post("/v1/embeddings", json=b) for b in bodies))


def test_concurrent_requests_share_batches(server: ServerProcess) -> None:
    before = httpx.get(f"{server.url}/metrics").text
    n = 48
    responses = asyncio.run(fire(server.url, [{"model": MODEL, "input": f"sentence {i}"} for i in range(n)]))
    assert [r.status_code for r in responses] == [200] * n
    after = httpx.get(f"{server.url}/metrics").text
    batches = metric(after, "aiserve_batch_size_count") - metric(before, "aiserve_batch_size_count")
    inputs = metric(after, "aiserve_batch_size_sum") - metric(before, "aiserve_batch_size_sum")
    assert inputs == n
    assert batches < n / 2, f"{n} concurrent requests ran in {batches} batches"


def test_access_log_is_json_with_request_ids(server: ServerProcess) -> None:
    httpx.post(f"{server.url}/v1/embeddings", json={"model": MODEL, "input": "hi"}, headers={"x-request-id": "e2e-7"})
    log_path: Path = server.log_path  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "e2e-7"]
    assert len(mine) == 1
    assert mine[0]["status"] == 200
    assert mine[0]["model"] == LABEL


def test_full_queue_answers_503_with_retry_after(data_dir: Path) -> None:
    args = ["--data-dir", str(data_dir), "--max-queue", "16", "--max-batch-size", "8", "--log-level", "warning"]
    with ServerProcess(args) as small:
        bodies = [{"model": MODEL, "input": [f"text {i} {j}" for j in range(8)]} for i in range(40)]
        responses = asyncio.run(fire(small.url, bodies))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503}
        assert statuses.count(503) > 0
        assert statuses.count(200) > 0
        rejected = next(r for r in responses if r.status_code == 503)
        assert int(rejected.headers["retry-after"]) >= 1
        assert rejected.json()["error"]["code"] == "overloaded"
        assert httpx.get(f"{small.url}/health").status_code == 200
        ok = httpx.post(f"{small.url}/v1/embeddings", json={"model": MODEL, "input": "still here"})
        assert ok.status_code == 200
        text = httpx.get(f"{small.url}/metrics").text
        assert f'aiserve_rejections_total{{model="{LABEL}",reason="overloaded"}} {statuses.count(503)}.0' in text


def test_graceful_stop_finishes_accepted_requests(data_dir: Path) -> None:
    with ServerProcess(["--data-dir", str(data_dir), "--log-level", "warning"]) as proc:

        async def scenario() -> list[httpx.Response]:
            bodies = [{"model": MODEL, "input": [f"drain {i} {j}" for j in range(64)]} for i in range(8)]
            task = asyncio.ensure_future(fire(proc.url, bodies))
            await asyncio.sleep(0.5)  # all eight are in the server's queue now
            assert proc.process is not None
            proc.process.terminate()
            return await task

        responses = asyncio.run(scenario())
        assert [r.status_code for r in responses] == [200] * 8
        assert all(len(r.json()["data"]) == 64 for r in responses)
        assert proc.process is not None
        # uvicorn re-raises the SIGTERM once it has drained, so the exit status is the signal's
        assert proc.process.wait(30) in (0, -15)


def test_inference_runs_off_the_event_loop(server: ServerProcess) -> None:
    async def scenario() -> tuple[int, bool]:
        async with httpx.AsyncClient(base_url=server.url, timeout=600) as client:
            big = asyncio.ensure_future(
                client.post("/v1/embeddings", json={"model": MODEL, "input": [f"busy {i}" for i in range(1024)]})
            )
            await asyncio.sleep(0.2)
            health = await client.get("/health")
            answered_first = not big.done()
            assert (await big).status_code == 200
            return health.status_code, answered_first

    status, answered_first = asyncio.run(scenario())
    assert status == 200
    assert answered_first, "/health waited for a 1024-input batch job"


def test_client_disconnect_drops_its_queued_work(data_dir: Path) -> None:
    # batches of one input: the first request holds the model for 1024 forward passes on any machine, and the test
    # waits for states (what is queued), never for a duration
    args = ["--data-dir", str(data_dir), "--model", MODEL, "--max-batch-size", "1", "--log-level", "warning"]
    with ServerProcess(args) as server:

        def inputs_run() -> float:
            return metric(httpx.get(f"{server.url}/metrics").text, "aiserve_batch_size_sum")

        async def depth(client: httpx.AsyncClient) -> float:
            return metric((await client.get("/metrics")).text, "aiserve_queue_depth")

        async def until(client: httpx.AsyncClient, predicate: Callable[[float], bool]) -> None:
            async with asyncio.timeout(60):
                while not predicate(await depth(client)):
                    await asyncio.sleep(0.01)

        async def scenario() -> str:
            port = int(server.url.rsplit(":", 1)[1])
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
                first = asyncio.ensure_future(
                    client.post("/v1/embeddings", json={"model": MODEL, "input": [f"first {i}" for i in range(1024)]})
                )
                await until(client, lambda queued: queued > 600)  # the first request is queued and running
                body = json.dumps({"model": MODEL, "input": [f"abandoned {i}" for i in range(256)]}).encode()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(
                    b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                await until(client, lambda queued: queued > 256 + 200)  # queued behind what is left of the first
                writer.close()  # the client goes away
                await writer.wait_closed()
                assert (await first).status_code == 200
                return (await client.get("/metrics")).text

        before = inputs_run()
        metrics_after_first = asyncio.run(scenario())
        # had the abandoned request stayed queued, its inputs would still be waiting here
        assert metric(metrics_after_first, "aiserve_queue_depth") == 0
        follow_up = httpx.post(f"{server.url}/v1/embeddings", json={"model": MODEL, "input": "after"}, timeout=600)
        assert follow_up.status_code == 200  # served in turn: anything abandoned but still queued would run first
        assert inputs_run() - before == 1024 + 1, "the abandoned request's inputs ran"
