"""Chat models on transformers + torch: Hugging Face folders, GPUs, and dynamic int8 on the CPU, with the running
answers decoded together (iteration-level batching)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from aiserve.engine.backends.generative import Decoding, SteppedBackend
from aiserve.engine.backends.options import ChatOptions
from aiserve.engine.protocol import GenerationRequest, SamplingParams
from aiserve.errors import InvalidInput


class TransformersOptions(ChatOptions):
    """What transformers reads: the chat options (`slots` defaults to 8 on the CPU and 64 on a GPU), the weights'
    precision and CPU int8."""

    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """The weights' precision (for a 135M model on an H100, bfloat16 was no faster than float32)."""
    int8: bool = False
    """CPU only: torch's dynamic int8 Linear layers, faster but far less accurate for a model as small as
    SmolLM2-135M, and its per-batch activation scales make an answer depend on which others share its batch."""


class TransformersBackend(SteppedBackend):
    """A causal LM folder (`config.json`, safetensors weights, tokenizer with a chat template).

    Options: `TransformersOptions`.
    """

    runtime = "transformers"
    Options = TransformersOptions

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.opts = TransformersOptions.parse(options, model=model_dir.name)
        self.max_running = self.opts.slots or (64 if self.device == "cuda" else 8)
        self._model: Any = None
        self._tokenizer: Any = None
        self._rows: Any = None
        self._running: list[Decoding] = []
        self._next: dict[Decoding, int] = {}
        self._rng: dict[Decoding, Any] = {}

    def load(self) -> None:
        """Load the folder in the chosen precision, on the chosen device."""
        import torch
        import transformers

        from aiserve.engine.backends.kv_rows import KVRows

        hf: Any = transformers
        torch.set_num_threads(self.threads)
        self._tokenizer = hf.AutoTokenizer.from_pretrained(self.model_dir)
        cuda = self.device == "cuda"
        dtype = getattr(torch, self.opts.dtype)
        config = hf.AutoConfig.from_pretrained(self.model_dir)
        if getattr(config, "quantization_config", {}).get("quant_method") == "gguf":  # folders prepared before 0.1.1
            del config.quantization_config  # the dense safetensors, not the packed GGUF beside them
        model: Any = hf.AutoModelForCausalLM.from_pretrained(self.model_dir, config=config, dtype=dtype)
        model = model.to(self.device)
        if not cuda and self.opts.int8:
            with warnings.catch_warnings():  # torch.ao's dynamic quantisation is deprecated but still the fast path
                warnings.simplefilter("ignore")
                quantize: Any = torch.ao.quantization.quantize_dynamic
                model = quantize(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._model = model.eval()
        eos = model.generation_config.eos_token_id
        self.eos_tokens = frozenset({*(eos if isinstance(eos, list) else [eos]), self._tokenizer.eos_token_id} - {None})
        self._rows = KVRows(self.max_running, self.opts.context_window, self.device)

    def unload(self) -> None:
        """Drop the model and its cache."""
        self._model = self._tokenizer = self._rows = None

    def chat_prompt(self, messages: list[tuple[str, str]]) -> str:
        """The tokenizer's chat template, with the assistant's turn opened."""
        prompt: str = self._tokenizer.apply_chat_template(
            [{"role": role, "content": text} for role, text in messages], add_generation_prompt=True, tokenize=False
        )
        return prompt

    def detokenize(self, tokens: list[int]) -> str:
        """The answer's text so far."""
        text: str = self._tokenizer.decode(tokens, skip_special_tokens=True)
        return text

    def tokenize(self, request: GenerationRequest) -> list[int]:
        """The templated prompt's tokens, checked against the window (on the model's thread: a fast tokenizer's
        settings are not safe to share between threads)."""
        params = request.params
        ids: list[int] = self._tokenizer(self.prompt_of(request), add_special_tokens=False).input_ids
        if not ids:
            raise InvalidInput("The prompt is empty.", param="prompt")
        if len(ids) + params.max_tokens > self.opts.context_window:
            raise InvalidInput(
                f"The prompt has {len(ids)} tokens and max_tokens is {params.max_tokens}: "
                f"{len(ids) + params.max_tokens} is more than the model's context window of "
                f"{self.opts.context_window} tokens.",
                param="max_tokens",
            )
        return ids

    def begin(self, request: GenerationRequest, tokens: list[int] | None = None) -> Decoding:
        """Prefill into the next free row and choose the first token."""
        import torch

        params = request.params
        ids = tokens if tokens is not None else self.tokenize(request)
        sequence = Decoding(request, prompt_tokens=len(ids))
        if params.seed is not None:
            self._rng[sequence] = torch.Generator().manual_seed(params.seed)
        logits = self._rows.prefill(self._model, ids, row=len(self._running))
        self._running.append(sequence)
        self._choose(sequence, logits)
        return sequence

    def step(self) -> None:
        """One token for every running answer, in one forward pass."""
        if not self._running:  # the scheduler ends every finished answer before the next step
            return
        logits = self._rows.decode(self._model, [self._next[s] for s in self._running])
        greedy = logits.argmax(dim=-1).tolist()
        # sampled answers draw on the CPU with their own seeded generators: copy the logits there once per step
        host = logits.float().cpu() if any(s.request.params.temperature > 0 for s in self._running) else logits
        for i, sequence in enumerate(self._running):
            self._choose(sequence, host[i], greedy[i])

    def end(self, sequence: Decoding) -> None:
        """Free the answer's row, moving the last running answer into it."""
        if sequence not in self._next:
            return
        index, last = self._running.index(sequence), len(self._running) - 1
        if index != last:
            self._rows.move(last, index)
            self._running[index] = self._running[last]
        self._running.pop()
        del self._next[sequence]
        self._rng.pop(sequence, None)

    def _choose(self, sequence: Decoding, logits: Any, greedy: int | None = None) -> None:
        params = sequence.request.params
        if params.temperature == 0:
            token = int(logits.argmax()) if greedy is None else greedy
        else:
            token = _sample(logits.float().cpu(), params, self._rng.get(sequence))  # a no-op copy after `step`
        self._next[sequence] = token
        self.accept(sequence, token)

    def info(self) -> dict[str, Any]:
        """Context window, answers decoded together, and device."""
        return {"device": self.device, "max_input_tokens": self.opts.context_window, "slots": self.max_running}


def _sample(logits: Any, params: SamplingParams, rng: Any) -> int:
    import torch

    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        ordered, index = torch.sort(probs, descending=True)
        keep = torch.cumsum(ordered, dim=-1) - ordered < params.top_p
        probs = torch.zeros_like(probs).scatter(0, index[keep], ordered[keep])
    return int(torch.multinomial(probs / probs.sum(), 1, generator=rng))
