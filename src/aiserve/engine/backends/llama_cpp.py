"""GGUF chat models on llama.cpp (llama-cpp-python): the CPU engine self-hosters use."""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aiserve.engine.generation import Event, Finished, GenerationBackend, GenerationRequest, Piece, SamplingParams
from aiserve.errors import InvalidInput


class LlamaCppBackend(GenerationBackend):
    """`model.gguf` in the model folder; the prompt is built with the chat template stored in the GGUF.

    Options: `context_window` (tokens per answer, default 2048), `slots` (answers generated at the same time, each
    in its own llama.cpp context over the same memory-mapped weights; default one per thread, and the threads are
    shared out between them).
    """

    runtime = "llama.cpp"

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.context_window = int(self.options.get("context_window", 2048))
        self.slots = max(1, int(self.options.get("slots") or threads))
        self._llms: list[Any] = []
        self._format: Any = None

    def load(self) -> None:
        """Open the GGUF and its chat template."""
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        _close_devnull_at_exit()

        llms = [
            Llama(
                model_path=str(self.model_dir / "model.gguf"),
                n_ctx=self.context_window,
                n_threads=max(1, self.threads // self.slots),
                n_gpu_layers=-1 if self.device == "cuda" else 0,
                verbose=False,
            )
            for _ in range(self.slots)
        ]
        llm = llms[0]
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF file has no chat template")
        eos = llm.detokenize([llm.token_eos()], special=True).decode(errors="ignore")
        bos = llm.detokenize([llm.token_bos()], special=True).decode(errors="ignore")
        self._format = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._llms = llms

    def unload(self) -> None:
        """Free the model."""
        for llm in self._llms:
            llm.close()
        self._llms = []

    def chat_prompt(self, messages: list[tuple[str, str]]) -> str:
        """The GGUF's own template, with the assistant's turn opened."""
        rendered = self._format(messages=[{"role": role, "content": text} for role, text in messages])
        prompt: str = rendered.prompt
        return prompt

    def generate(self, request: GenerationRequest, stopped: Callable[[], bool], slot: int = 0) -> Iterator[Event]:
        """Stream the answer token by token in context `slot`; stops within one token when `stopped()` is true."""
        llm = self._llms[slot]
        params = request.params
        prompt = self.chat_prompt(list(request.messages)) if request.messages else request.prompt
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        if len(tokens) + params.max_tokens > self.context_window:
            raise InvalidInput(
                f"The prompt has {len(tokens)} tokens and max_tokens is {params.max_tokens}: "
                f"{len(tokens) + params.max_tokens} is more than the model's context window of "
                f"{self.context_window} tokens.",
                param="max_tokens",
            )
        stream = llm.create_completion(
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
        answer = "".join(text).encode()
        completion = params.max_tokens if finish == "length" else len(llm.tokenize(answer, add_bos=False, special=True))
        yield Finished(finish, len(tokens), completion)

    def warmup(self) -> None:
        """One token in every slot."""
        for slot in range(self.slots):
            warm = GenerationRequest(messages=(("user", "Hello"),), params=SamplingParams(max_tokens=1, temperature=0))
            for _ in self.generate(warm, lambda: False, slot):
                pass

    def info(self) -> dict[str, Any]:
        """Context window, slots and device."""
        return {"device": self.device, "max_input_tokens": self.context_window, "slots": self.slots}


def _close_devnull_at_exit() -> None:
    """llama-cpp-python keeps two /dev/null files open for its whole life and never closes them, which makes
    Python warn at exit; close them then."""
    from llama_cpp import _utils

    for name in ("outnull_file", "errnull_file"):
        handle = getattr(_utils, name, None)
        if handle is not None:
            atexit.register(handle.close)
