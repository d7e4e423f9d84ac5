"""Chat models on transformers + torch: Hugging Face folders, GPUs, and dynamic int8 on the CPU."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from aiserve.engine.generation import Event, Finished, GenerationBackend, GenerationRequest, Piece, SamplingParams
from aiserve.errors import InvalidInput


class TransformersBackend(GenerationBackend):
    """A causal LM folder (`config.json`, safetensors weights, tokenizer with a chat template).

    Options: `context_window` (default 2048), `int8` (dynamic int8 Linear layers on the CPU, default true).
    One answer at a time; decoding runs token by token with the KV cache, so a stop is never more than a step away.
    """

    runtime = "transformers"

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.context_window = int(self.options.get("context_window", 2048))
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos: set[int] = set()

    def load(self) -> None:
        """Load the folder; quantise Linear layers to int8 on the CPU."""
        import torch
        import transformers

        hf: Any = transformers
        torch.set_num_threads(self.threads)
        self._tokenizer = hf.AutoTokenizer.from_pretrained(self.model_dir)
        model: Any = hf.AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
        if self.device == "cuda":
            model = model.to("cuda")
        elif self.options.get("int8", True):
            with warnings.catch_warnings():  # torch.ao's dynamic quantisation is deprecated but still the fast path
                warnings.simplefilter("ignore")
                quantize: Any = torch.ao.quantization.quantize_dynamic
                model = quantize(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._model = model.eval()
        eos = model.generation_config.eos_token_id
        self._eos = {*(eos if isinstance(eos, list) else [eos]), self._tokenizer.eos_token_id} - {None}

    def unload(self) -> None:
        """Drop the model."""
        self._model = self._tokenizer = None

    def chat_prompt(self, messages: list[tuple[str, str]]) -> str:
        """The tokenizer's chat template, with the assistant's turn opened."""
        prompt: str = self._tokenizer.apply_chat_template(
            [{"role": role, "content": text} for role, text in messages], add_generation_prompt=True, tokenize=False
        )
        return prompt

    def generate(
        self,
        request: GenerationRequest,
        stopped: Callable[[], bool],
        slot: int = 0,  # noqa: ARG002 - one slot
    ) -> Iterator[Event]:
        """Decode token by token; text is streamed as it becomes whole characters."""
        import torch

        params = request.params
        prompt = self.chat_prompt(list(request.messages)) if request.messages else request.prompt
        ids = self._tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(self._model.device)
        n_prompt = int(ids.shape[1])
        if n_prompt + params.max_tokens > self.context_window:
            raise InvalidInput(
                f"The prompt has {n_prompt} tokens and max_tokens is {params.max_tokens}: "
                f"{n_prompt + params.max_tokens} is more than the model's context window of "
                f"{self.context_window} tokens.",
                param="max_tokens",
            )
        rng = torch.Generator().manual_seed(params.seed) if params.seed is not None else None
        produced: list[int] = []
        sent = ""
        finish = "length"
        past: Any = None
        current = ids
        with torch.inference_mode():
            for _ in range(params.max_tokens):
                if stopped():
                    finish = "cancelled"
                    break
                out = self._model(input_ids=current, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = _sample(out.logits[0, -1].float(), params, rng)
                if token in self._eos:
                    finish = "stop"
                    break
                produced.append(token)
                text = self._tokenizer.decode(produced, skip_special_tokens=True)
                cut = _first_stop(text, params.stop)
                if cut is not None:
                    text, finish = text[:cut], "stop"
                if not text.endswith("\ufffd") and len(text) > len(sent):  # wait for whole characters
                    yield Piece(text[len(sent) :])
                    sent = text
                if finish == "stop":
                    break
                current = torch.tensor([[token]], device=self._model.device)
        yield Finished(finish, n_prompt, len(produced))

    def info(self) -> dict[str, Any]:
        """Context window and device."""
        return {"device": self.device, "max_input_tokens": self.context_window}


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [i for s in stops if (i := text.find(s)) >= 0]
    return min(found) if found else None


def _sample(logits: Any, params: SamplingParams, rng: Any) -> int:
    import torch

    if params.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        ordered, index = torch.sort(probs, descending=True)
        keep = torch.cumsum(ordered, dim=-1) - ordered < params.top_p
        probs = torch.zeros_like(probs).scatter(0, index[keep], ordered[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=rng))
