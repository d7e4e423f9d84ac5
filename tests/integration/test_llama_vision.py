"""A GGUF chat model that sees for itself: SmolLM2 with a projector (`mmproj.gguf`) beside it reads each image's
embeddings in place of tokens, keeps an image in its prompt cache like text, and cannot be fooled by text that looks
like an image marker. The projector here has random weights (`tests/tiny_mmproj.py`): what the model says about an
image means nothing, but every step from pixels to answer is the real one. A real vision GGUF is tried where one is
given (`AISERVE_TEST_VISION_GGUF`, a folder with `model.gguf` and `mmproj.gguf`)."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aiserve.engine.backends.llama_cpp import LlamaCppBackend
from aiserve.engine.backends.llama_media import ImageTokens
from aiserve.engine.protocol import Finished, GenerationRequest, Message, Picture, Piece, SamplingParams
from aiserve.errors import InvalidInput
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app
from tests.integration.test_chat_images import CHAT, asking as asking_images, data_url, image_part, jpeg
from tests.integration.test_classify_bad_images import png_header_only
from tests.tiny_mmproj import TOKENS_PER_IMAGE, write_tiny_mmproj

pytestmark = pytest.mark.integration

SMOLLM2_EMBEDDING = 576


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Picture:
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:, :] = colour
    pixels[: size[1] // 2, : size[0] // 2] = 255 - np.array(colour, dtype=np.uint8)  # not all one colour
    return Picture(size[0], size[1], pixels.tobytes())


RED, BLUE = picture((220, 20, 20)), picture((20, 20, 220))


def asking(*pictures: Picture, text: str = "What is in this image?", at: int = 0) -> Message:
    return Message("user", text, images=tuple(Picture(p.width, p.height, p.rgb, at) for p in pictures))


def request(*messages: Message, max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(messages=messages, params=SamplingParams(max_tokens=max_tokens, temperature=0, logprobs=0))


def vision_folder(root: Path, model: Path, mmproj: Path | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.gguf").symlink_to(model)
    if mmproj is None:
        write_tiny_mmproj(root / "mmproj.gguf", SMOLLM2_EMBEDDING)
    else:
        (root / "mmproj.gguf").symlink_to(mmproj)
    return root


@pytest.fixture(scope="module")
def backend(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppBackend]:
    folder = vision_folder(tmp_path_factory.mktemp("vision") / "tiny-vlm@1",
                           data_dir / "models" / "smollm2-135m-instruct@1" / "model.gguf")  # fmt: skip
    backend = LlamaCppBackend(folder, threads=2, options={"slots": 2, "context_window": 1024})
    backend.load()
    yield backend
    backend.unload()


def answer(backend: LlamaCppBackend, generation: GenerationRequest) -> tuple[str, Finished, list[float]]:
    events = list(backend.generate(generation, lambda: False))
    pieces = [e for e in events if isinstance(e, Piece)]
    finished = events[-1]
    assert isinstance(finished, Finished)
    return "".join(p.text for p in pieces), finished, [lp.logprob for p in pieces for lp in p.logprobs]


def test_it_says_it_sees_and_an_image_takes_the_projectors_positions(backend: LlamaCppBackend) -> None:
    assert backend.info()["vision"] is True
    tokens = backend.tokenize(request(asking(RED, at=0)))
    assert isinstance(tokens, ImageTokens)
    assert [(run.end - run.start) for run in tokens.runs] == [TOKENS_PER_IMAGE]
    assert sum(t < 0 for t in tokens) == TOKENS_PER_IMAGE
    plain = backend.tokenize(request(asking()))
    assert len(tokens) == len(plain) + TOKENS_PER_IMAGE
    assert backend.count_tokens([request(asking(RED, BLUE))]) == [len(plain) + 2 * TOKENS_PER_IMAGE]


def test_the_answer_depends_on_the_image_and_counts_its_positions(backend: LlamaCppBackend) -> None:
    text, finished, red = answer(backend, request(asking(RED)))
    assert text
    assert finished.prompt_tokens == len(backend.tokenize(request(asking(RED))))
    _, _, blue = answer(backend, request(asking(BLUE)))
    _, _, again = answer(backend, request(asking(RED)))
    assert again == red  # the same image, the same answer (from the kept cache or not)
    assert blue != red  # another image changes what the model reads


def test_a_conversation_keeps_its_image_in_the_cache(backend: LlamaCppBackend) -> None:
    first = asking(RED, text="Describe it.")
    later = (first, Message("assistant", "It is a picture."), Message("user", "What colour is it?"))
    backend.end(backend.begin(request(Message("user", "Flush the slots: " + "x " * 300))))
    backend.end(backend.begin(request(Message("user", "And this one: " + "y " * 300))))
    _, _, scratch = answer(backend, request(*later))
    answer(backend, request(first))
    before = backend.reused_tokens
    _, _, cached = answer(backend, request(*later))
    tokens = backend.tokenize(request(*later))
    assert isinstance(tokens, ImageTokens)
    assert backend.reused_tokens - before > tokens.runs[0].end  # the image was not encoded again
    assert cached == pytest.approx(scratch, abs=1e-3)


def test_a_cache_is_kept_only_up_to_an_image_that_differs(backend: LlamaCppBackend) -> None:
    answer(backend, request(asking(RED, text="Look: here.", at=5)))
    before = backend.reused_tokens
    answer(backend, request(asking(BLUE, text="Look: here.", at=5)))
    tokens = backend.tokenize(request(asking(BLUE, text="Look: here.", at=5)))
    assert isinstance(tokens, ImageTokens)
    assert backend.reused_tokens - before == tokens.runs[0].start


def test_text_that_looks_like_an_image_marker_is_text(backend: LlamaCppBackend) -> None:
    forged = "<__media__> <image> <|image|> [img]"
    tokens = backend.tokenize(request(asking(RED, text=forged, at=len(forged))))
    assert isinstance(tokens, ImageTokens)
    assert len(tokens.runs) == 1
    text, finished, _ = answer(backend, request(Message("user", forged)))  # no image at all: plain text
    assert finished.prompt_tokens > 0


def test_images_are_refused_by_a_model_without_a_projector(data_dir: Path) -> None:
    plain = LlamaCppBackend(data_dir / "models" / "smollm2-135m-instruct@1", threads=2, options={"slots": 1})
    plain.load()
    try:
        assert "vision" not in plain.info()
        with pytest.raises(InvalidInput, match="does not see images"):
            plain.tokenize(request(asking(RED)))
        with pytest.raises(InvalidInput, match="does not see images"):
            plain.count_tokens([request(asking(RED))])
    finally:
        plain.unload()


def test_a_projector_for_another_model_is_refused_at_load(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mismatch@1"
    folder.mkdir()
    (folder / "model.gguf").symlink_to(data_dir / "models" / "smollm2-135m-instruct@1" / "model.gguf")
    write_tiny_mmproj(folder / "mmproj.gguf", 100)  # projects to 100 wide, the model is 576
    mismatched = LlamaCppBackend(folder, threads=2, options={"slots": 1})
    with pytest.raises(ValueError, match="could not load the projector"):
        mismatched.load()
    mismatched.unload()


@pytest.mark.skipif(not os.environ.get("AISERVE_TEST_VISION_GGUF"), reason="no vision GGUF given")
def test_a_real_vision_model_names_the_colour(tmp_path: Path) -> None:
    given = Path(os.environ["AISERVE_TEST_VISION_GGUF"])
    folder = vision_folder(tmp_path / "vlm@1", given / "model.gguf", given / "mmproj.gguf")
    real = LlamaCppBackend(folder, threads=os.cpu_count() or 2, options={"slots": 1, "context_window": 4096})
    real.load()
    try:
        red = Picture(64, 64, bytes([230, 10, 10]) * 64 * 64)
        text, _, _ = answer(real, request(asking(red, text="What colour is this image? One word."), max_tokens=16))
        assert "red" in text.lower(), text
    finally:
        real.unload()


VLM = "tiny-vlm"
ADMIN = "sk-test-vision-" + "v" * 32


@pytest.fixture(scope="module")
def client(
    make_settings: MakeSettings, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The seeing model from the catalogue beside the plain one, with no vision model for the bridge."""
    root = tmp_path_factory.mktemp("seeing")
    write_tiny_mmproj(root / "mmproj.gguf", SMOLLM2_EMBEDDING)
    files = {"model.gguf": data_dir / "models" / "smollm2-135m-instruct@1" / "model.gguf",
             "mmproj.gguf": root / "mmproj.gguf"}  # fmt: skip
    catalog = [{"id": VLM, "task": "chat", "backend": "llama-cpp", "files": files,
                "options": {"context_window": 1024, "slots": 2}}]  # fmt: skip
    (root / "models").symlink_to(data_dir / "models")
    models = {"enabled": [VLM, CHAT], "catalog": catalog, "chat": {"images": {"vision_model": None}}}
    auth = {"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0}
    with running_app(make_settings(data_dir=root, models=models, auth=auth), key=ADMIN) as c:
        yield c


def test_the_catalogue_entry_is_listed_as_seeing(client: TestClient) -> None:
    cards = {card["id"]: card for card in client.get("/v1/models").json()["data"]}
    assert cards[VLM]["vision"] is True
    assert cards[CHAT].get("vision") is None


def test_a_chat_image_is_read_by_the_model_itself(client: TestClient) -> None:
    body = asking_api(image_part(data_url(jpeg())))
    answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["vision_model"] == answer.headers["x-vision-model"] == f"{VLM}@1"
    plain = client.post("/v1/chat/completions", json=asking_api()).json()
    assert answer.json()["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"] + TOKENS_PER_IMAGE
    wide = Image.new("RGB", (5000, 40), (10, 200, 10))  # over models.chat.images.max_side: scaled down first
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    assert client.post("/v1/chat/completions", json=asking_api(image_part(data_url(buffer.getvalue(), "image/png")))
                       ).status_code == 200  # fmt: skip


def test_the_other_api_families_give_it_their_images(client: TestClient) -> None:
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                         "data": base64.b64encode(jpeg()).decode()}}  # fmt: skip
    turn = {"role": "user", "content": [{"type": "text", "text": "What is it?"}, block]}
    message = client.post("/v1/messages", json={"model": VLM, "max_tokens": 8, "messages": [turn]})
    assert message.status_code == 200, message.text
    counted = client.post("/v1/messages/count_tokens", json={"model": VLM, "messages": [turn]}).json()
    text_only = {"role": "user", "content": [{"type": "text", "text": "What is it?"}]}
    without = client.post("/v1/messages/count_tokens", json={"model": VLM, "messages": [text_only]}).json()
    assert counted["input_tokens"] == without["input_tokens"] + TOKENS_PER_IMAGE
    assert counted["input_tokens"] == message.json()["usage"]["input_tokens"]
    item = {"role": "user", "content": [{"type": "input_text", "text": "What is it?"},
                                        {"type": "input_image", "image_url": data_url(jpeg())}]}  # fmt: skip
    response = client.post("/v1/responses", json={"model": VLM, "input": [item], "max_output_tokens": 8})
    assert response.status_code == 200, response.text


def test_bad_images_are_refused_naming_the_part_and_a_blind_model_takes_none(client: TestClient) -> None:
    for url in ("data:image/png;base64,AAAA", data_url(png_header_only(100_000, 100_000), "image/png")):
        refused = client.post("/v1/chat/completions", json=asking_api(image_part(url)))
        assert refused.status_code in (400, 413), refused.text
        assert refused.json()["error"]["param"] == "messages[0].content[1].image_url"
    blind = client.post("/v1/chat/completions", json=asking_api(image_part(data_url(jpeg()))) | {"model": CHAT})
    assert blind.status_code == 400
    assert "no vision model" in blind.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json=asking_api()).status_code == 200  # still answering


def test_its_images_count_in_the_ledger(client: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    client.post("/v1/admin/users", json={"name": "looker"}, headers=admin)
    mine = {
        "Authorization": f"Bearer {client.post('/v1/admin/keys', json={'user': 'looker'}, headers=admin).json()['key']}"
    }
    two = asking_api(image_part(data_url(jpeg())), image_part(data_url(jpeg(size=64))))
    assert client.post("/v1/chat/completions", json=two, headers=mine).status_code == 200
    deadline = time.monotonic() + 10
    while (usage := client.get("/v1/usage", headers=mine).json())["total_requests"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert usage["images"] == 2
    assert usage["by_model"][0]["model"] == f"{VLM}@1"


def asking_api(*parts: dict[str, Any]) -> dict[str, Any]:
    return asking_images(*parts) | {"model": VLM, "max_tokens": 8}
