"""Constrained decoding with llguidance: a runtime's vocabulary is read once at load, and each constrained answer
gets its own matcher, which masks the tokens that would leave the answer's language before each choice.

The masks are per answer, so constrained and free answers share a batch and neither changes the other. A matcher is
built off the model's thread (`SteppedBackend.constrain`): a large grammar never holds the answers being decoded.
"""

from __future__ import annotations

import warnings
from typing import Any

import llguidance
import numpy as np
from numpy.typing import NDArray

from aiserve.errors import InvalidInput
from aiserve.guidance import panicked, refusing

LIMITS = llguidance.LLParserLimits(initial_lexer_fuel=200_000, step_lexer_fuel=50_000, max_lexer_states=50_000)
"""Bounds on the work of one grammar (a quarter of llguidance's defaults): past them the grammar is refused before
the answer starts, or the answer ends (`length`), instead of holding every answer of the batch. Measured on two
cores: a pattern `a{100000}` took 50 ms a token under the defaults and is now cut after one 34 ms mask; an enum of
50,000 values or an `anyOf` of 3,000 objects is refused in 0.2 s, off the model's thread."""


class Grammars:
    """A runtime's vocabulary as llguidance sees it, and `n_vocab`, the width of the model's logits."""

    def __init__(self, tokenizer: llguidance.LLTokenizer, n_vocab: int) -> None:
        self._tokenizer = tokenizer
        self.n_vocab = n_vocab

    @classmethod
    def from_llama(cls, model: Any, n_vocab: int) -> Grammars:
        """The vocabulary of a llama.cpp model (`llama_model_p`)."""
        import llama_cpp
        import llguidance.llamacpp

        vocab = llama_cpp.llama_model_get_vocab(model)
        with warnings.catch_warnings():  # llguidance reads each token's kind with a call llama.cpp deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            return cls(llguidance.llamacpp.lltokenizer_from_vocab(vocab, n_vocab=n_vocab), n_vocab)

    @classmethod
    def from_hf(cls, tokenizer: Any, n_vocab: int, eos: list[int]) -> Grammars:
        """The vocabulary of a fast Hugging Face tokenizer."""
        import llguidance.hf

        return cls(llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=eos), n_vocab)

    def token_bytes(self, token: int) -> bytes:
        """A token's bytes (a special token's name)."""
        raw: bytes = self._tokenizer.decode_bytes([token])
        return raw[1:] if raw.startswith(b"\xff") else raw  # llguidance marks special tokens with a 0xff byte

    def constraint(self, grammar: str, param: str = "response_format") -> Constraint:
        """A matcher for one answer; `InvalidInput` naming `param` when the grammar cannot be used."""
        with refusing(param, "asks for more than this server will hold an answer to"):
            matcher = llguidance.LLMatcher(self._tokenizer, grammar, log_level=0, limits=LIMITS)
        if matcher.is_error():
            problem = matcher.get_error().splitlines()[0][:300]
            raise InvalidInput(f"'{param}' asks for more than this server will hold an answer to: {problem}",
                               param=param)  # fmt: skip
        return Constraint(matcher, self.n_vocab)


class Constraint:
    """One answer's place in its grammar."""

    def __init__(self, matcher: llguidance.LLMatcher, n_vocab: int) -> None:
        self._matcher = matcher
        self._n_vocab = n_vocab
        self._words = np.zeros((n_vocab + 31) // 32, dtype=np.int32)
        self._panic: str | None = None

    def mask(self, logits: NDArray[np.float32]) -> None:
        """Set the logit of every token the grammar does not allow next to -inf, in place."""
        try:
            self._matcher.unsafe_compute_mask_ptr(self._words.ctypes.data, self._words.nbytes)
        except BaseException as exc:
            self._broke(exc)  # the answer ends at `accept`, before the token this leaves unmasked
            return
        allowed = np.unpackbits(self._words.view(np.uint8), bitorder="little")[: len(logits)]
        logits[: len(allowed)][allowed == 0] = -np.inf
        logits[len(allowed) :] = -np.inf

    def consume(self, token: int) -> None:
        """Move past a chosen token."""
        try:
            self._matcher.consume_token(token)
        except BaseException as exc:
            self._broke(exc)

    def _broke(self, exc: BaseException) -> None:
        """llguidance failed or panicked on this answer: remember why; the answer ends, the batch goes on."""
        if not (isinstance(exc, Exception) or panicked(exc)):
            raise exc
        self._panic = (str(exc).splitlines() or [type(exc).__name__])[0][:300]

    @property
    def done(self) -> bool:
        """Whether the answer has reached the end of its grammar (nothing more may follow)."""
        return bool(self._matcher.is_stopped())

    @property
    def failed(self) -> str | None:
        """Why the matcher stopped following the answer, if it did (a limit on its work was reached)."""
        if self._panic is not None:
            return self._panic
        return self._matcher.get_error() if self._matcher.is_error() else None
