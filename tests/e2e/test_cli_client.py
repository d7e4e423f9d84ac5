"""`aiserve chat|classify|embed|rerank|usage` against a real server, run as a user would: answers, tables and JSON, a
conversation scripted on stdin that keeps (and on `/clear` forgets) its history, and every failure as one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import skimage

from aiserve.bench.server import ServerProcess
from tests.e2e.test_cli import aiserve
from tests.services import free_port

pytestmark = pytest.mark.e2e

ADMIN = "sk-cli-admin-" + "c" * 32
PHOTOS = Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("cli-client")
    (home / "models").symlink_to(data_dir / "models")
    with ServerProcess(["--data-dir", str(home)], api_key=ADMIN) as proc:
        yield proc


def run(server: ServerProcess, *args: str, stdin: str | None = None, key: str = ADMIN) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "aiserve", *args, "--url", server.url, "--api-key", key],
                          input=stdin, capture_output=True, text=True, timeout=300)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_chat_answers_whole_streamed_and_from_stdin(server: ServerProcess) -> None:
    question = ("What is the capital of France?", "--system", "Answer in one short sentence.", "--temperature", "0",
                "--max-tokens", "16")  # fmt: skip
    code, whole, err = run(server, "chat", *question)
    assert code == 0, err
    assert "Paris" in whole
    code, streamed, err = run(server, "chat", *question, "--stream")
    assert code == 0, err
    assert streamed == whole
    code, piped, err = run(server, "chat", "-", *question[1:], stdin="What is the capital of France?\n")
    assert code == 0, err
    assert piped == whole


def test_chat_answers_in_json_that_follows_a_schema_file(server: ServerProcess, tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                                               "sunny": {"type": "boolean"}},
              "required": ["city", "sunny"], "additionalProperties": False}  # fmt: skip
    (tmp_path / "weather.json").write_text(json.dumps(schema))
    code, out, err = run(server, "chat", "Is it sunny in Paris?", "--json-schema", str(tmp_path / "weather.json"),
                         "--temperature", "0", "--max-tokens", "40")  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert set(answer) == {"city", "sunny"}
    assert isinstance(answer["sunny"], bool)
    code, out, err = run(server, "chat", "Describe Paris.", "--json", "--temperature", "0", "--max-tokens", "60")
    assert code == 0, err
    assert out.startswith("{")
    (tmp_path / "broken.json").write_text("{not json")
    code, out, err = run(server, "chat", "hi", "--json-schema", str(tmp_path / "broken.json"))
    assert code != 0
    assert "broken.json is not JSON" in err
    assert "Traceback" not in err


def test_chat_asks_about_an_image(server: ServerProcess, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "coffee.jpg"
    image = Image.open(PHOTOS / "coffee.png").convert("RGB")
    image.thumbnail((256, 256))
    image.save(photo)
    code, out, err = run(server, "chat", "What is in this image?", "--image", str(photo), "--temperature", "0",
                         "--max-tokens", "60", "--usage", "--stream")  # fmt: skip
    assert code == 0, err
    assert "coffee" in out.lower() or "espresso" in out.lower(), out
    assert "images seen by efficientnet-lite0@1" in err
    code, _, err = run(server, "chat", "What is this?", "--image", str(tmp_path / "missing.jpg"))
    assert code == 2
    assert "does not exist" in err
    (tmp_path / "notes.txt").write_text("not a picture")
    code, _, err = run(server, "chat", "What is this?", "--image", str(tmp_path / "notes.txt"))
    assert code == 1
    assert err.count("\n") == 1
    assert "not a recognised image" in err


def test_a_conversation_keeps_its_history_until_cleared(server: ServerProcess) -> None:
    script = "My name is Ada.\nWhat is my name?\n/clear\nMy name is Ada.\n/system Answer like a pirate.\n" \
             "My name is Ada.\n/bogus\n/exit\nnever sent\n"  # fmt: skip
    code, out, err = run(server, "chat", "--usage", "--temperature", "0", "--max-tokens", "8", "--stream",
                         stdin=script)  # fmt: skip
    assert code == 0, err
    prompts = [int(n) for n in re.findall(r"prompt (\d+) tokens", err)]
    completions = [int(n) for n in re.findall(r"completion (\d+) tokens", err)]
    assert len(prompts) == 4  # four questions; the commands and what follows /exit are not sent
    assert prompts[1] > prompts[0] + completions[0]  # the second turn resent the first question and its answer
    assert prompts[2] == prompts[0]  # after /clear, the same question costs the same again
    assert prompts[3] > prompts[2]  # now with a system prompt
    assert "(conversation cleared)" in err
    assert "unknown command /bogus" in err
    assert out.count("\n") >= 4


def test_classify_prints_percentages_or_json(server: ServerProcess, tmp_path: Path) -> None:
    code, out, err = run(server, "classify", str(PHOTOS / "coffee.png"), str(PHOTOS / "chelsea.png"), "--top-k",
                         "3")  # fmt: skip
    assert code == 0, err
    assert "espresso" in out
    assert re.search(r"\d+\.\d%", out)
    code, out, err = run(server, "classify", str(PHOTOS / "coffee.png"), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result[0]["predictions"][0]["label"] == "espresso"
    assert len(result[0]["predictions"]) == 5
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    code, out, err = run(server, "classify", str(text))
    assert code == 1
    assert err == f"error: {text}: not an image the server reads (JPEG, PNG, GIF, WebP or BMP)\n"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    code, out, err = run(server, "classify", str(broken))
    assert code == 1
    assert err.startswith("error: Invalid image")
    assert len(err.splitlines()) == 1


def test_embed_prints_a_summary_or_the_vectors(server: ServerProcess) -> None:
    code, out, err = run(server, "embed", "a cat", "a dog")
    assert code == 0, err
    assert "384" in out
    code, out, err = run(server, "embed", "a cat", "--json")
    assert code == 0, err
    assert len(json.loads(out)["data"][0]["embedding"]) == 384


def test_rerank_ranks_files_or_their_lines(server: ServerProcess, tmp_path: Path) -> None:
    texts = {"cat.txt": "A cat purrs on the sofa.", "dog.txt": "The dog barks at the postman every morning.",
             "fish.txt": "Fish swim in the pond."}  # fmt: skip
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    files = [str(tmp_path / name) for name in texts]
    code, out, err = run(server, "rerank", "Which animal barks?", *files)
    assert code == 0, err
    assert "minilm-rerank" in out
    assert out.index("dog.txt") < out.index("cat.txt")
    code, out, err = run(server, "rerank", "Which animal barks?", *files, "--json", "--top", "1")
    assert code == 0, err
    assert [r["where"] for r in json.loads(out)["results"]] == [files[1]]
    (tmp_path / "all.txt").write_text("\n".join(texts.values()) + "\n\n")
    code, out, err = run(server, "rerank", "Which animal barks?", str(tmp_path / "all.txt"), "--lines", "--json")
    assert code == 0, err
    assert [r["where"] for r in json.loads(out)["results"]][0] == f"{tmp_path / 'all.txt'}:2"


def test_the_retrieval_example_answers_with_its_sources(server: ServerProcess) -> None:
    example = Path(__file__).parents[2] / "docs" / "examples" / "retrieval.py"
    env = {**os.environ, "AISERVE_BASE_URL": server.url, "AISERVE_API_KEY": ADMIN}
    done = subprocess.run([sys.executable, str(example), "How do I keep my basil plant healthy?"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    sources = [line for line in done.stdout.splitlines() if re.match(r"\[\d\] ", line)]
    assert len(sources) == 3
    assert "basil" in sources[0].lower()
    assert done.stdout.splitlines()[0].strip()  # the answer comes first


def test_failures_are_one_friendly_line(server: ServerProcess) -> None:
    nowhere = aiserve("chat", "hi", "--url", f"http://127.0.0.1:{free_port()}", "--api-key", ADMIN)
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("error: Cannot reach the server at http://127.0.0.1:")
    assert nowhere.stderr.rstrip().endswith("Is `aiserve serve` running?")
    code, _, err = run(server, "embed", "hi", key="sk-" + "w" * 40)
    assert code == 1
    assert err == "error: Invalid API key: pass --api-key or set AISERVE_API_KEY.\n"
    assert run(server, "users", "create", "limited", "--rpm", "1")[0] == 0
    key = run(server, "keys", "create", "--user", "limited")[1].strip()
    named = ("--model", "all-minilm-l6-v2")  # the default model would be looked up with a request of its own
    assert run(server, "embed", "hi", *named, key=key)[0] == 0
    code, _, err = run(server, "embed", "hi", *named, key=key)
    assert code == 1
    assert re.fullmatch(r"error: Rate limit reached for requests: 1 per minute\. Try again in \d+ s\.\n", err)
    for output in (nowhere.stderr, err):
        assert "Traceback" not in output
        assert len(output.splitlines()) == 1
