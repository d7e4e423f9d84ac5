"""GGUF chat models on llama.cpp (llama-cpp-python): the CPU engine self-hosters use."""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aiserve.engine.generation import Event, Finished, GenerationBackend, GenerationRequest, Piece
from aiserve.errors import InvalidInput


class LlamaCppBackend(GenerationBackend):
    """`model.gguf` in the model folder; the prompt is built with the chat template stored in the GGUF.

    Options: `context_window` (tokens, default 2048).
    """

    runtime = "llama.cpp"

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.context_window = int(self.options.get("context_window", 2048))
        self._llm: Any = None
        self._format: Any = None

    def load(self) -> None:
        """Open the GGUF and its chat template."""
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        _close_devnull_at_exit()

        llm = Llama(
            model_path=str(self.model_dir / "model.gguf"),
            n_ctx=self.context_window,
            n_threads=self.threads,
            n_gpu_layers=-1 if self.device == "cuda" else 0,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF file has no chat template")
        eos = llm.detokenize([llm.token_eos()], special=True).decode(errors="ignore")
        bos = llm.detokenize([llm.token_bos()], special=True).decode(errors="ignore")
        self._format = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._llm = llm

    def unload(self) -> None:
        """Free the model."""
        if self._llm is not None:
            self._llm.close()
        self._llm = None

    def chat_prompt(self, messages: list[tuple[str, str]]) -> str:
        """The GGUF's own template, with the assistant's turn opened."""
        rendered = self._format(messages=[{"role": role, "content": text} for role, text in messages])
        prompt: str = rendered.prompt
        return prompt

    def count_tokens(self, text: str) -> int:
        """Tokens in `text`, special tokens parsed."""
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True))

    def generate(self, request: GenerationRequest, stopped: Callable[[], bool]) -> Iterator[Event]:
        """Stream the answer token by token; stops within one token when `stopped()` turns true."""
        params = request.params
        prompt = self.chat_prompt(list(request.messages)) if request.messages else request.prompt
        tokens = self._llm.tokenize(prompt.encode(), add_bos=False, special=True)
        if len(tokens) + params.max_tokens > self.context_window:
            raise InvalidInput(
                f"The prompt has {len(tokens)} tokens and max_tokens is {params.max_tokens}: "
                f"{len(tokens) + params.max_tokens} is more than the model's context window of "
                f"{self.context_window} tokens.",
                param="max_tokens",
            )
        stream = self._llm.create_completion(
            prompt=tokens,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=list(params.stop) or None,
            stream=True,
        )
        text: list[str] = []
        finish = "stop"
        for chunk in stream:
            if stopped():
                finish = "cancelled"
                break
            choice = chunk["choices"][0]
            if choice["text"]:
                text.append(choice["text"])
                yield Piece(choice["text"])
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        # a full budget is exact; otherwise count the answer with the model's own tokenizer
        completion = params.max_tokens if finish == "length" else (self.count_tokens("".join(text)) if text else 0)
        yield Finished(finish, len(tokens), completion)

    def info(self) -> dict[str, Any]:
        """Context window and device."""
        return {"device": self.device, "max_input_tokens": self.context_window}


def _close_devnull_at_exit() -> None:
    """llama-cpp-python keeps two /dev/null files open for its whole life and never closes them, which makes
    Python warn at exit; close them then."""
    from llama_cpp import _utils

    for name in ("outnull_file", "errnull_file"):
        handle = getattr(_utils, name, None)
        if handle is not None:
            atexit.register(handle.close)
