"""Three replicas behind real nginx, sharing PostgreSQL and Redis: a per-key limit holds exactly through the load
balancer; under steady mixed load one replica drains on SIGTERM and another dies by SIGKILL, and the others keep
answering; every 2xx has exactly one ledger event (but those the killed replica had not written yet); keys made
through one replica work on all."""

from __future__ import annotations

import asyncio
import base64
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import skimage
from sqlalchemy import select

from aiserve.settings import load_settings
from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.cluster import ADMIN, Cluster, cluster

pytestmark = pytest.mark.e2e

AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
COFFEE = base64.b64encode((Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()).decode()


@pytest.fixture(scope="module")
def running(data_dir: Path) -> Iterator[Cluster]:
    with cluster(data_dir / "models") as made:
        yield made


def ledger(database: str) -> Counter[tuple[str, int]]:
    async def read() -> Counter[tuple[str, int]]:
        engine = make_engine(load_settings(database={"url": database}))
        async with sessions(engine)() as session:
            rows = (await session.execute(select(UsageEvent.request_id, UsageEvent.status))).all()
        await engine.dispose()
        return Counter((str(rid), int(status)) for rid, status in rows)

    return asyncio.run(read())


def test_a_limit_holds_exactly_through_nginx_and_keys_work_on_every_replica(
    running: Cluster, report: Callable[[str], None]
) -> None:
    assert httpx.post(f"{running.url}/v1/admin/users", json={"name": "app"}, headers=AS_ADMIN).status_code == 201
    made = httpx.post(f"{running.url}/v1/admin/keys", json={"user": "app", "limits": {"requests_per_minute": 40}},
                      headers=AS_ADMIN)  # fmt: skip
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    for replica in running.replicas:  # made through one replica, known to all
        assert httpx.get(f"{replica.url}/v1/models", headers=key).status_code == 200
    body = {"model": "all-minilm-l6-v2", "input": "a short sentence"}

    def send(_: int) -> httpx.Response:
        return httpx.post(f"{running.url}/v1/embeddings", json=body, headers=key, timeout=600)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(300)))
    codes = Counter(a.status_code for a in answers)
    upstreams = Counter(a.headers["x-upstream"] for a in answers)
    report(f"limit through nginx: sent 300, answered {codes[200]}, refused {codes[429]} (429), by upstream "
          f"{dict(upstreams)}")  # fmt: skip
    assert codes == {200: 40, 429: 260}  # 40 a minute (listing models above is not counted)
    assert len(upstreams) == 3  # nginx spread them over the replicas


Outcome = tuple[str, int, str, str]
"""A request's id, its status, the upstream that answered it, and its path."""


def ask_twice(http: httpx.Client, method: str, path: str, body: object, retried: list[str]) -> Outcome:
    """The outcome of a request; a broken connection is tried once more (noted in `retried`), as the SDKs do.
    Status 0: the connection broke twice."""
    for attempt in range(2):
        rid = uuid.uuid4().hex
        try:
            answer = http.request(method, path, json=body, headers={"x-request-id": rid})
        except httpx.TransportError:
            if attempt == 0:
                retried.append(rid)
            continue
        return rid, answer.status_code, answer.headers.get("x-upstream", "").split(",")[-1].strip(), path
    return rid, 0, "", path


def test_replicas_stop_and_die_under_load_and_the_others_answer(
    running: Cluster, report: Callable[[str], None]
) -> None:
    sent: list[Outcome] = []
    lock = threading.Lock()
    progress = threading.Event()
    requests = [("POST", "/v1/embeddings", {"model": "all-minilm-l6-v2", "input": "steady load"}),
                ("POST", "/v1/classify", {"image": COFFEE, "top_k": 1}), ("GET", "/v1/models", None)]  # fmt: skip
    total = 600

    retried: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=running.url, headers=AS_ADMIN, timeout=600) as http:
            for i in range(n, total, 6):
                method, path, body = requests[i % 3]
                outcome = ask_twice(http, method, path, body, retried)
                with lock:
                    sent.append(outcome)
                    if len(sent) in (150, 300):
                        progress.set()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    drained, killed = running.replicas[0], running.replicas[1]
    assert drained.process is not None
    assert killed.process is not None
    progress.wait(60)
    progress.clear()
    drained.process.send_signal(signal.SIGTERM)  # graceful: finishes what it has, then exits 0
    progress.wait(60)
    killed.process.send_signal(signal.SIGKILL)  # abrupt: in-flight requests are retried by nginx elsewhere
    for thread in threads:
        thread.join(120)
    assert drained.process.wait(30) == 0
    killed.process.wait(30)

    running.replicas[2].stop()  # gracefully, so its last events are written too
    codes = Counter(status for _, status, _, _ in sent)
    events = ledger(running.database)
    killed_at = f"127.0.0.1:{killed.port}"
    model_answers = [(rid, up) for rid, status, up, path in sent if 200 <= status < 300 and path != "/v1/models"]
    lost = [rid for rid, up in model_answers if up == killed_at and (rid, 200) not in events]
    report(f"under load: sent {total}, answered {codes[200]}, rejected {total - codes[200] - codes[0]}, transport "
          f"errors {codes[0]} ({len(retried)} tried again); model calls answered {len(model_answers)}, with a "
          f"ledger event {len(model_answers) - len(lost)}, unwritten because their replica was killed {len(lost)}; "
          f"answered by {dict(Counter(up for _, _, up, _ in sent))}; by route and status "
          f"{dict(Counter((path, status) for _, status, _, path in sent))}")  # fmt: skip
    assert len(sent) == total
    assert codes[200] == total  # every request answered, by one replica or another
    # nginx retries whatever it can elsewhere; only a response cut off mid-write by the SIGKILL (after its first
    # bytes went out, when no proxy may retry) breaks a connection: at most the requests in flight then, one a worker
    assert len(retried) <= 6, retried
    assert all(n == 1 for n in events.values())  # no request is in the ledger twice
    for rid, up in model_answers:
        if up != killed_at:  # answered by a replica that stopped gracefully or kept running: exactly one event
            assert events[(rid, 200)] == 1, f"request {rid} answered by {up} is not in the ledger"
