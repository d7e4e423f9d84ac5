"""GGUF chat models on llama.cpp (llama-cpp-python), the CPU engine self-hosters use, with the running answers
decoded together: one llama.cpp context holds a sequence per answer, and each step decodes one token of every
running answer in one `llama_decode` call.

A model folder with a projector (`mmproj.gguf`) beside its weights sees images for itself (`llama_media.py`).

A long prompt that arrives while answers are running is evaluated a chunk per step, in the same `llama_decode` as
their next tokens (chunked prefill), each chunk sized so that the step takes about `STEP_STRETCH` plain steps: the
running answers keep their pace. Alone, a prompt is evaluated at once.

A finished answer's cache is kept: a new prompt goes to the free sequence that already holds the longest start of
it (a shared system prompt, the earlier turns of a conversation) and only the rest is evaluated."""

from __future__ import annotations

import atexit
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from aiserve.engine.backends.chat_template import ChatTemplate
from aiserve.engine.backends.generative import Decoding, SteppedBackend
from aiserve.engine.backends.grammar import Constraint, Grammars
from aiserve.engine.backends.llama_media import ImageTokens, Projector
from aiserve.engine.backends.options import ChatOptions
from aiserve.engine.protocol import GenerationRequest, Message


@dataclass(slots=True)
class _Place:
    """Where an answer lives in the context: its sequence id, how many tokens it holds, what it feeds next, and the
    prompt tokens still to evaluate (chunked prefill) before its first token is chosen."""

    seq_id: int
    length: int
    next_token: int
    pending: list[int] = field(default_factory=list)


class LlamaCppOptions(ChatOptions):
    """What llama.cpp reads: `context_window` and `slots` (default 8), each slot with its own `context_window` of
    key/value cache in one context over the memory-mapped weights, and `prefill_chunk`."""

    prefill_chunk: int = Field(default=256, ge=8, le=512)
    """The most prompt tokens evaluated per step beside the running answers' tokens while a prompt arrives during
    others' answers. Within it, each chunk is sized from the measured costs so that a step with a chunk takes about
    `STEP_STRETCH` plain steps: the running answers keep their pace, the new one starts as soon as that allows."""


class LlamaCppBackend(SteppedBackend):
    """`model.gguf` in the model folder, and `mmproj.gguf` for a model that sees images; the prompt is built with
    the chat template stored in the GGUF.

    Options: `LlamaCppOptions`.
    """

    runtime = "llama.cpp"
    Options = LlamaCppOptions
    _BATCH = 512
    """Tokens evaluated in one `llama_decode` while prefilling."""

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.opts = LlamaCppOptions.parse(options, model=model_dir.name)
        self.context_window = self.opts.context_window
        self.max_running = self.opts.slots or 8
        self._llm: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        self._template: ChatTemplate | None = None
        self._projector: Projector | None = None
        self._places: dict[Decoding, _Place] = {}
        self._free: list[int] = []
        self._held: list[list[int]] = []
        """The tokens whose keys and values each sequence holds, kept after its answer ends."""
        self.reused_tokens = 0
        """Prompt tokens taken from a kept cache instead of evaluated, since loading."""
        self._step_s = 0.0
        """A plain step's time (all running answers, one token each), a moving average."""
        self._token_s = 0.0
        """The time one more prompt token adds to a step, a moving average."""

    def load(self) -> None:
        """Open the GGUF, its chat template, and one context with a sequence per slot."""
        import llama_cpp
        from llama_cpp import Llama, _internals

        _close_devnull_at_exit()
        # this Llama only tokenises and holds the weights; the answers run in the context made below
        llm = Llama(
            model_path=str(self.model_dir / "model.gguf"),
            n_ctx=256,
            n_threads=self.threads,
            n_gpu_layers=-1 if self.device == "cuda" else 0,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError("the GGUF file has no chat template")
        eos = llm.detokenize([llm.token_eos()], special=True).decode(errors="ignore")
        bos = llm.detokenize([llm.token_bos()], special=True).decode(errors="ignore")
        self._template = ChatTemplate(template, bos=bos, eos=eos)
        self.n_vocab = llm.n_vocab()
        self.grammars = Grammars.from_llama(llm._model.model, self.n_vocab)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.opts.context_window * self.max_running
        params.n_seq_max = self.max_running
        params.kv_unified = False  # each sequence gets its own context_window of cache
        params.n_batch = params.n_ubatch = self._BATCH
        params.n_threads = params.n_threads_batch = self.threads
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(n_tokens=max(512, self.max_running), embd=0, n_seq_max=1, verbose=False)
        self._llm = llm
        projector = self.model_dir / "mmproj.gguf"
        if projector.exists():
            self._projector = Projector(projector, llm._model.model, threads=self.threads, gpu=self.device == "cuda")
        self.eos_tokens = frozenset({llm.token_eos()})
        self._free = list(range(self.max_running))
        self._held = [[] for _ in range(self.max_running)]

    def unload(self) -> None:
        """Free the projector, the context and the model."""
        if self._projector is not None:
            self._projector.close()
            self._projector = None
        for part in (self._batch, self._ctx, self._llm):
            if part is not None:
                part.close()
        self._batch = self._ctx = self._llm = None

    def chat_prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        """The GGUF's own template, with the assistant's turn opened (and the projector's marker where each image
        goes)."""
        assert self._template is not None
        if self._projector is not None:
            messages = [self._projector.marked(message) for message in messages]
        return self._template.render(messages, tools)

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The prompt's tokens; with images, `ImageTokens` made by the projector."""
        if not request.images or self._projector is None:
            return super().prompt_tokens(request)
        pictures = [picture for message in request.messages for picture in message.images]
        return self._projector.tokenize(self.prompt_of(request), pictures)

    def count_tokens(self, items: Sequence[GenerationRequest]) -> list[int] | None:
        """The tokens each request's prompt takes, its images' positions included."""
        if not any(request.images for request in items):
            return super().count_tokens(items)
        return [len(self.prompt_tokens(request)) for request in items]

    def detokenize(self, tokens: list[int]) -> str:
        """The answer's text so far (an unfinished character shows as U+FFFD, which is held back)."""
        raw: bytes = self._llm.detokenize(tokens)
        return raw.decode("utf-8", errors="replace")

    tokenizes_anywhere = True  # llama.cpp's tokenizer only reads the vocabulary

    def encode(self, text: str) -> list[int]:
        """The tokens of a templated prompt."""
        tokens: list[int] = self._llm.tokenize(text.encode(), add_bos=False, special=True)
        return tokens

    def begin(
        self, request: GenerationRequest, tokens: list[int] | None = None, constraint: Constraint | None = None
    ) -> Decoding:
        """Prefill a free sequence with the prompt's tokens (tokenised here unless given) and choose the first
        token."""
        if tokens is None:
            tokens = self.tokenize(request)
        sequence = self.decoding(request, tokens, constraint)
        seq_id, reused = self._reuse(tokens)
        self.reused_tokens += reused
        if self._places and not isinstance(tokens, ImageTokens) and len(tokens) - reused > self._chunk():
            self._ctx.kv_cache_seq_rm(seq_id, reused, -1)  # others are answering: a chunk per step beside them
            self._held[seq_id] = tokens[:reused]
            self._places[sequence] = _Place(seq_id, reused, -1, list(tokens[reused:]))
            return sequence
        try:
            last = self._prefill(seq_id, tokens, reused)
        except BaseException:
            self._forget(seq_id)
            self._free.append(seq_id)
            raise
        self._places[sequence] = _Place(seq_id, len(tokens), -1)
        self._choose(sequence, self._logits(last))
        return sequence

    def _prefill(self, seq_id: int, tokens: list[int], reused: int) -> int:
        """Evaluate `tokens[reused:]` into sequence `seq_id`, its images by the projector; the batch index of the
        last token's logits."""
        self._ctx.kv_cache_seq_rm(seq_id, reused, -1)
        self._held[seq_id] = tokens[:reused]
        runs = [run for run in tokens.runs if run.end > reused] if isinstance(tokens, ImageTokens) else []
        start = reused
        for run in runs:
            assert self._projector is not None
            self._evaluate(seq_id, tokens, start, run.start)
            self._projector.evaluate(self._ctx.ctx, run, seq_id, self._BATCH)
            start = run.end
        last = self._evaluate(seq_id, tokens, start, len(tokens))
        self._held[seq_id] = list(tokens)
        return last

    def _evaluate(self, seq_id: int, tokens: list[int], begin: int, end: int) -> int:
        """Evaluate the text `tokens[begin:end]`, asking for the logits of the prompt's last token."""
        chunk, last = self._BATCH, 0
        for start in range(begin, end, chunk):
            part = tokens[start : min(start + chunk, end)]
            self._fill([(seq_id, start + i, t, False) for i, t in enumerate(part)])
            last = len(part) - 1
            self._batch.batch.logits[last] = start + len(part) >= len(tokens)
            self._ctx.decode(self._batch)
        return last

    def _forget(self, seq_id: int) -> None:
        """Drop what a sequence holds (after a failed evaluation its cache is not known)."""
        self._ctx.kv_cache_seq_rm(seq_id, -1, -1)
        self._held[seq_id] = []

    def _reuse(self, tokens: list[int]) -> tuple[int, int]:
        """The free sequence holding the longest start of `tokens`, and how many tokens of it can stay (never all:
        the last prompt token is evaluated again for its logits)."""
        best, best_len = self._free[0], -1
        for seq_id in self._free:
            held = self._held[seq_id]
            same = next((i for i, (a, b) in enumerate(zip(held, tokens, strict=False)) if a != b), None)
            n = min(len(held), len(tokens)) if same is None else same
            if n > best_len:
                best, best_len = seq_id, n
        self._free.remove(best)
        kept = min(best_len, len(tokens) - 1)
        return best, tokens.boundary(kept) if isinstance(tokens, ImageTokens) else kept

    def step(self) -> None:
        """One token for every running answer and the next chunks of the prompts still being evaluated, in one
        `llama_decode`."""
        running = [s for s in self._places if s.finish is None]
        if not running:
            return
        answering = [s for s in running if not self._places[s].pending]
        rows = [(self._places[s].seq_id, self._places[s].length, self._places[s].next_token, True) for s in answering]
        chunks: list[tuple[Decoding, list[int], int]] = []  # a prompt, its chunk, the batch row of its last token
        budget = self._chunk()
        # the prompts closest to their end first: a short prompt does not wait behind a long one
        for sequence in sorted(
            (s for s in running if self._places[s].pending), key=lambda s: len(self._places[s].pending)
        ):
            if budget <= 0:
                break
            place = self._places[sequence]
            chunk = place.pending[:budget]
            done = len(chunk) == len(place.pending)
            rows += [(place.seq_id, place.length + i, t, done and i == len(chunk) - 1) for i, t in enumerate(chunk)]
            chunks.append((sequence, chunk, len(rows) - 1))
            budget -= len(chunk)
        self._fill(rows)
        started = time.perf_counter()
        try:
            self._ctx.decode(self._batch)
        except BaseException:
            for sequence in running:
                self._forget(self._places[sequence].seq_id)
            raise
        self._timed(time.perf_counter() - started, sum(len(c) for _, c, _ in chunks), bool(answering))
        for i, sequence in enumerate(answering):
            place = self._places[sequence]
            self._held[place.seq_id].append(place.next_token)
            place.length += 1
            self._choose(sequence, self._logits(i))
        for sequence, chunk, last in chunks:
            place = self._places[sequence]
            self._held[place.seq_id].extend(chunk)
            place.length += len(chunk)
            del place.pending[: len(chunk)]
            if not place.pending:
                self._choose(sequence, self._logits(last))

    STEP_STRETCH = 2.0
    """How many plain steps' time a step that also evaluates a chunk of a prompt may take."""

    def _chunk(self) -> int:
        """Prompt tokens to evaluate in the next step: what fits `STEP_STRETCH` plain steps at the measured cost
        per prompt token (at least 8, at most `prefill_chunk`)."""
        if not self._step_s or not self._token_s:
            return min(32, self.opts.prefill_chunk)  # nothing measured yet: a small chunk
        fits = int((self.STEP_STRETCH - 1.0) * self._step_s / self._token_s)
        return max(8, min(self.opts.prefill_chunk, fits))

    def _timed(self, seconds: float, prompt_tokens: int, answering: bool) -> None:
        """Learn the cost of a plain step and of a prompt token (moving averages) from one `llama_decode`."""
        if not prompt_tokens:
            self._step_s = seconds if not self._step_s else 0.9 * self._step_s + 0.1 * seconds
        elif answering and self._step_s:
            per_token = max(seconds - self._step_s, 0.0) / prompt_tokens
            self._token_s = per_token if not self._token_s else 0.8 * self._token_s + 0.2 * per_token

    def end(self, sequence: Decoding) -> None:
        """Free the answer's sequence; its cache stays for a prompt that starts the same way."""
        place = self._places.pop(sequence, None)
        if place is not None:
            self._free.append(place.seq_id)

    def _fill(self, rows: list[tuple[int, int, int, bool]]) -> None:
        """Put `(seq_id, position, token, wants_logits)` rows in the batch."""
        batch = self._batch.batch
        for i, (seq_id, position, token, logits) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = position
            batch.seq_id[i][0] = seq_id
            batch.n_seq_id[i] = 1
            batch.logits[i] = logits
        batch.n_tokens = len(rows)

    def _logits(self, index: int) -> NDArray[np.float32]:
        return np.ctypeslib.as_array(self._ctx.get_logits_ith(index), shape=(self._llm.n_vocab(),))

    def _choose(self, sequence: Decoding, logits: NDArray[np.float32]) -> None:
        greedy = int(np.argmax(logits)) if sequence.sampler.greedy_only else None
        self._places[sequence].next_token = self.choose(sequence, logits, greedy)

    def info(self) -> dict[str, Any]:
        """Context window, answers decoded together, device, and whether it sees images."""
        info = {"device": self.device, "max_input_tokens": self.opts.context_window, "slots": self.max_running}
        return {**info, "vision": True} if self._projector is not None else info


def _close_devnull_at_exit() -> None:
    """llama-cpp-python keeps two /dev/null files open for its whole life and never closes them, which makes
    Python warn at exit; close them then."""
    from llama_cpp import _utils

    for name in ("outnull_file", "errnull_file"):
        handle = getattr(_utils, name, None)
        if handle is not None:
            atexit.register(handle.close)
