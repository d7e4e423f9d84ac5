"""`aiserve chat`: ask a running server's chat model. One question (an argument, or `-` for stdin), or with no
question a conversation that keeps and resends its whole history (`/clear`, `/system TEXT`, `/exit`)."""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, ServerUrlOpt

if TYPE_CHECKING:
    from aiserve.client import Client

HELP = "/clear forgets the conversation, /system TEXT sets the system prompt, /exit (or Ctrl-D) leaves."


def default_model(client: Client, task: str) -> str:
    """The first ready model of `task` the server serves."""
    from aiserve.errors import AiserveError

    for card in client.models.list().data:
        if card.task == task and card.status == "ready":
            return card.id
    raise AiserveError(f"the server has no ready {task} model; name one with --model")


def chat(
    question: Annotated[
        str | None, typer.Argument(help="The question; `-` reads it from stdin; none: converse.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Chat model (default: the server's first).")] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    stream: Annotated[bool, typer.Option(help="Print the answer as it is generated.")] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens in an answer.", min=1)] = None,
    temperature: Annotated[float | None, typer.Option(help="0 gives the same answer every time.", min=0)] = None,
    show_usage: Annotated[bool, typer.Option("--usage", help="Print each answer's token counts on stderr.")] = False,
    json_schema: Annotated[
        Path | None,
        typer.Option(help="Answer in JSON that follows the JSON Schema in this file.", exists=True, dir_okay=False),
    ] = None,
    json_object: Annotated[bool, typer.Option("--json", help="Answer with a JSON object.")] = False,
    image: Annotated[
        list[Path] | None,
        typer.Option(
            help="An image to ask about (repeatable); the server's vision model sees it.", exists=True, dir_okay=False
        ),  # fmt: skip
    ] = None,
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Ask the server's chat model; with no question, hold a conversation."""
    from aiserve.cli.remote import client_for

    sampling: dict[str, Any] = {
        k: v for k, v in {"max_tokens": max_tokens, "temperature": temperature}.items() if v is not None
    }
    if json_schema is not None:
        sampling["response_format"] = {"type": "json_schema", "json_schema": _schema_format(json_schema)}
    elif json_object:
        sampling["response_format"] = {"type": "json_object"}
    with client_for(url, api_key, config, timeout=300) as client:
        name = model or default_model(client, "chat")
        talk = _Talk(client, name, sampling, stream=stream, show_usage=show_usage)
        opening = [{"role": "system", "content": system}] if system else []
        if question is None:
            talk.converse(opening)
            return
        text = sys.stdin.read() if question == "-" else question
        content: str | list[dict[str, Any]] = text.strip()
        if image:
            content = [{"type": "text", "text": text.strip()}, *(_image_part(path) for path in image)]
        talk.answer([*opening, {"role": "user", "content": content}])


def _image_part(path: Path) -> dict[str, Any]:
    """`--image`: the file as a data URL in an `image_url` part (the server checks that it is an image)."""
    kind = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    data = base64.b64encode(path.read_bytes()).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{kind};base64,{data}"}}


def _schema_format(path: Path) -> dict[str, Any]:
    """`--json-schema`: a file holding a JSON Schema, or OpenAI's `{"name": ..., "schema": ...}` around one."""
    from aiserve.errors import AiserveError

    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AiserveError(f"--json-schema: {path.name} is not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise AiserveError(f"--json-schema: {path.name} holds no JSON Schema object")
    if isinstance(found.get("schema"), dict) and "name" in found:
        return found
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in path.stem)[:64] or "answer"
    return {"name": name, "schema": found}


class _Talk:
    """Sends a history and prints the answer (whole, or as it streams)."""

    def __init__(self, client: Client, model: str, sampling: dict[str, Any], *, stream: bool,
                 show_usage: bool) -> None:  # fmt: skip
        self.client, self.model, self.sampling = client, model, sampling
        self.stream, self.show_usage = stream, show_usage

    def answer(self, history: list[dict[str, Any]]) -> str:
        """Ask with `history`; print and return the answer."""
        if not self.stream:
            done = self.client.chat.completions.create(messages=history, model=self.model, **self.sampling)
            text = done.choices[0].message.content or ""
            print(text)
            self._usage(done.usage.prompt_tokens, done.usage.completion_tokens, done.vision_model)
            return text
        pieces: list[str] = []
        seen: str | None = None
        options = {"include_usage": True}
        chunks = self.client.chat.completions.create(messages=history, model=self.model, stream=True,
                                                     stream_options=options, **self.sampling)  # fmt: skip
        for chunk in chunks:
            seen = chunk.vision_model or seen
            if chunk.usage is not None:
                self._usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, seen)
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                    print(choice.delta.content, end="", flush=True)
        print()
        return "".join(pieces)

    def converse(self, opening: list[dict[str, Any]]) -> None:
        """Read turns from stdin until `/exit` or its end; every turn resends the whole conversation."""
        history = list(opening)
        interactive = sys.stdin.isatty()
        if interactive:
            print(f"chatting with {self.model}. {HELP}", file=sys.stderr)
        while True:
            try:
                line = input("you> " if interactive else "").strip()
            except EOFError:
                return
            if not line:
                continue
            if line == "/exit":
                return
            if line == "/clear":
                history = [m for m in history if m["role"] == "system"]
                print("(conversation cleared)", file=sys.stderr)
            elif line.startswith("/system"):
                history = [m for m in history if m["role"] != "system"]
                history.insert(0, {"role": "system", "content": line.removeprefix("/system").strip()})
                print("(system prompt set)", file=sys.stderr)
            elif line.startswith("/"):
                print(f"unknown command {line.split()[0]}. {HELP}", file=sys.stderr)
            else:
                history.append({"role": "user", "content": line})
                history.append({"role": "assistant", "content": self.answer(history)})

    def _usage(self, prompt: int, completion: int, vision_model: str | None = None) -> None:
        if self.show_usage:
            seen = f", images seen by {vision_model}" if vision_model else ""
            print(f"[usage] prompt {prompt} tokens, completion {completion} tokens{seen}", file=sys.stderr)
