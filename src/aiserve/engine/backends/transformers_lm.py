"""Chat models on transformers + torch: Hugging Face folders, GPUs, and dynamic int8 on the CPU, with the running
answers decoded together (iteration-level batching).

A finished answer's cache is kept in a free row of the cache (`kv_rows.py`): a new prompt that starts like it (a
shared system prompt, the earlier turns of a conversation) evaluates only the rest."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from aiserve.engine.backends.chat_template import ChatTemplate
from aiserve.engine.backends.generative import Decoding, SteppedBackend
from aiserve.engine.backends.grammar import Constraint, Grammars
from aiserve.engine.backends.options import ChatOptions
from aiserve.engine.protocol import GenerationRequest, Message


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
        self.context_window = self.opts.context_window
        self.max_running = self.opts.slots or (64 if self.device == "cuda" else 8)
        self._model: Any = None
        self._tokenizer: Any = None
        self._counting: Any = None
        self._counting_lock = threading.Lock()
        self._template: ChatTemplate | None = None
        self._rows: Any = None
        self._running: list[Decoding] = []
        self._next: dict[Decoding, int] = {}
        self.reused_tokens = 0
        """Prompt tokens taken from a kept cache instead of evaluated, since loading."""

    def load(self) -> None:
        """Load the folder in the chosen precision, on the chosen device."""
        import torch
        import transformers

        from aiserve.engine.backends.kv_rows import KVRows

        hf: Any = transformers
        torch.set_num_threads(self.threads)
        self._tokenizer = hf.AutoTokenizer.from_pretrained(self.model_dir)
        self._counting = hf.AutoTokenizer.from_pretrained(self.model_dir)
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
        tokenizer = self._tokenizer
        if not tokenizer.chat_template:
            raise ValueError("the tokenizer has no chat template")
        self._template = ChatTemplate(tokenizer.chat_template, bos=tokenizer.bos_token or "",
                                      eos=tokenizer.eos_token or "")  # fmt: skip
        self.n_vocab = int(model.get_output_embeddings().out_features)
        if tokenizer.is_fast:  # llguidance reads fast tokenizers only: a slow one's model cannot constrain answers
            self.grammars = Grammars.from_hf(tokenizer, self.n_vocab, sorted(self.eos_tokens))
        self._rows = KVRows(self.max_running, self.opts.context_window, self.device)
        self._running, self._next, self.reused_tokens = [], {}, 0

    def unload(self) -> None:
        """Drop the model and its cache."""
        self._model = self._tokenizer = self._counting = self._rows = None

    def chat_prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        """The tokenizer's chat template, with the assistant's turn opened."""
        assert self._template is not None
        return self._template.render(messages, tools)

    def detokenize(self, tokens: list[int]) -> str:
        """The answer's text so far."""
        text: str = self._tokenizer.decode(tokens, skip_special_tokens=True)
        return text

    def encode(self, text: str) -> list[int]:
        """The tokens of a templated prompt (on the model's thread: a fast tokenizer's settings are not safe to
        share between threads)."""
        ids: list[int] = self._tokenizer(text, add_special_tokens=False).input_ids
        return ids

    def count_encode(self, text: str) -> list[int]:
        """`encode` off the model's thread, on a tokenizer of its own."""
        with self._counting_lock:
            ids: list[int] = self._counting(text, add_special_tokens=False).input_ids
        return ids

    def begin(
        self, request: GenerationRequest, tokens: list[int] | None = None, constraint: Constraint | None = None
    ) -> Decoding:
        """Prefill into the next free row (after what a kept cache already holds of the prompt) and choose the first
        token."""
        ids = tokens if tokens is not None else self.tokenize(request)
        sequence = self.decoding(request, ids, constraint)
        row = len(self._running)
        reused = self._rows.take(ids, row)
        logits = self._rows.prefill(self._model, ids, row, start=reused)
        self.reused_tokens += reused
        self._choose(sequence, logits.float().cpu().numpy(), int(logits.argmax()))
        self._running.append(sequence)  # only now: a failure above leaves the row free
        return sequence

    def step(self) -> None:
        """One token for every running answer, in one forward pass."""
        if not self._running:  # the scheduler ends every finished answer before the next step
            return
        logits = self._rows.decode(self._model, [self._next[s] for s in self._running])
        greedy = logits.argmax(dim=-1).tolist()
        # the other answers choose on the CPU with their own samplers: copy the logits there once per step
        host = None if all(s.sampler.greedy_only for s in self._running) else logits.float().cpu().numpy()
        for i, sequence in enumerate(self._running):
            self._choose(sequence, None if host is None else host[i], greedy[i])

    def end(self, sequence: Decoding) -> None:
        """Free the answer's row, moving the last running answer into it; the answer's cache stays in the row freed
        for a prompt that starts the same way."""
        if sequence not in self._next:
            return
        index, last = self._running.index(sequence), len(self._running) - 1
        self._rows.release(index, last)
        if index != last:
            self._running[index] = self._running[last]
        self._running.pop()
        del self._next[sequence]

    def _choose(self, sequence: Decoding, logits: Any, greedy: int) -> None:
        self._next[sequence] = self.choose(sequence, logits, greedy)

    def info(self) -> dict[str, Any]:
        """Context window, answers decoded together, and device."""
        return {"device": self.device, "max_input_tokens": self.opts.context_window, "slots": self.max_running}
