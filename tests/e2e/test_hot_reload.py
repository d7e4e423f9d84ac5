"""A second model version is loaded and unloaded on a live server under traffic, with no failed request."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
import skimage

from aiserve.bench.server import ServerProcess
from aiserve.registry.catalog import MINILM
from aiserve.registry.prepare import model_dir

pytestmark = pytest.mark.e2e

COFFEE = base64.b64encode((Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()).decode()


ADMIN = "sk-hot-reload-admin-" + "h" * 32  # loading models is an admin's job


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AISERVE_API_KEY": ADMIN}
    return subprocess.run(
        [sys.executable, "-m", "aiserve", "models", *args], capture_output=True, text=True, timeout=300, env=env
    )


async def check_an_alias_moves(client: httpx.AsyncClient, url: str) -> None:
    """`aiserve models alias|aliases|unalias`: a name clients keep, moved from version 1 to version 2."""

    async def answered_by(model: str) -> str:
        response = await client.post("/v1/embeddings", json={"model": model, "input": "hi"})
        assert response.status_code == 200, response.text
        answered: str = response.json()["model"]
        return answered

    alias = "minilm-live"
    try:
        for version in ("1", "2"):
            moved = await asyncio.to_thread(cli, "alias", alias, f"all-minilm-l6-v2@{version}", "--url", url)
            assert moved.returncode == 0, moved.stderr
            assert f"aliased: {alias} -> all-minilm-l6-v2@{version} (ready)" in moved.stdout
        assert await answered_by(alias) == "all-minilm-l6-v2@2"
        listed = await asyncio.to_thread(cli, "aliases", "--url", url)
        assert listed.returncode == 0, listed.stderr
        assert alias in listed.stdout
        assert "all-minilm-l6-v2@2" in listed.stdout
    finally:  # the alias book lives in the session's models folder
        dropped = await asyncio.to_thread(cli, "unalias", alias, "--url", url)
    assert dropped.returncode == 0, dropped.stderr
    assert f"unaliased: {alias} (pointed at all-minilm-l6-v2@2)" in dropped.stdout
    again = await asyncio.to_thread(cli, "unalias", alias, "--url", url)
    assert again.returncode == 1
    assert f"There is no alias '{alias}'" in again.stderr


def test_load_and_unload_a_version_under_traffic(data_dir: Path, tmp_path: Path) -> None:
    prepared = model_dir(data_dir / "models", MINILM)
    for name in ("model.onnx", "tokenizer.json"):
        shutil.copy(prepared / name, tmp_path / name)
    config = tmp_path / "aiserve.toml"
    config.write_text(
        "[[models.catalog]]\n"
        'id = "all-minilm-l6-v2"\nversion = "2"\ntask = "embeddings"\nbackend = "onnx-embedding"\n'
        f'files = {{ "model.onnx" = "{tmp_path / "model.onnx"}", '
        f'"tokenizer.json" = "{tmp_path / "tokenizer.json"}" }}\n'
        "options = { max_tokens = 256, dimensions = 384 }\n"
    )
    args = ["--data-dir", str(data_dir), "--config", str(config), "--log-level", "warning"]
    with ServerProcess(args, api_key=ADMIN) as server:

        async def scenario() -> tuple[Counter[int], list[int]]:
            statuses: Counter[int] = Counter()
            stop = asyncio.Event()
            headers = {"Authorization": f"Bearer {ADMIN}"}
            async with httpx.AsyncClient(base_url=server.url, timeout=600, headers=headers) as client:

                async def traffic(path: str, body: dict[str, object]) -> None:
                    while not stop.is_set():
                        statuses[(await client.post(path, json=body)).status_code] += 1

                background = [
                    asyncio.ensure_future(traffic("/v1/classify", {"image": COFFEE})),
                    asyncio.ensure_future(traffic("/v1/embeddings", {"model": "all-minilm-l6-v2", "input": "hi"})),
                ]
                await asyncio.sleep(0.3)
                loaded = await asyncio.to_thread(cli, "load", "all-minilm-l6-v2@2", "--url", server.url)
                assert loaded.returncode == 0, loaded.stderr
                assert "loaded: all-minilm-l6-v2@2" in loaded.stdout
                await check_an_alias_moves(client, server.url)
                # work queued on version 2 when it is unloaded still finishes
                big = {"model": "all-minilm-l6-v2@2", "input": [f"drain {i}" for i in range(256)]}
                queued = [asyncio.ensure_future(client.post("/v1/embeddings", json=big)) for _ in range(4)]
                await asyncio.sleep(0.3)
                unloaded = await asyncio.to_thread(cli, "unload", "all-minilm-l6-v2@2", "--url", server.url)
                assert unloaded.returncode == 0, unloaded.stderr
                drained = [(await q).status_code for q in queued]
                gone = await client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2@2", "input": "x"})
                assert gone.status_code == 404
                await asyncio.sleep(0.3)
                stop.set()
                await asyncio.gather(*background)
            return statuses, drained

        statuses, drained = asyncio.run(scenario())
        assert drained == [200] * 4
        assert set(statuses) == {200}, statuses
        assert statuses[200] > 20
