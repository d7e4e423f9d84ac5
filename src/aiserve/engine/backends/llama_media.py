"""Images for a GGUF chat model that sees for itself: its projector (`mmproj.gguf`, llama.cpp's libmtmd) turns each
image into embeddings the model reads in place of tokens.

A prompt with images is tokenised into `ImageTokens`: the text's tokens, and for each image as many keys as the
positions it takes. An image's keys are negative and the same for the same pixels, so the prompt cache
(`LlamaCppBackend._reuse`) keeps an image a conversation sent before, as it keeps text, instead of encoding it again.
The images are placed where the chat template put an unguessable marker, never found by searching the client's
text, so no text can move or forge an image."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import secrets
import threading
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiserve.engine.protocol import Message, Picture
from aiserve.errors import InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImageRun:
    """An image's place in a prompt: positions `start` to `end`, evaluated by its chunk."""

    start: int
    end: int
    chunk: Any


class ImageTokens(list[int]):
    """A prompt's tokens with its images as negative keys, and the projector's chunks that evaluate the images
    (freed with this list)."""

    runs: tuple[ImageRun, ...] = ()

    def boundary(self, n: int) -> int:
        """`n`, or the start of the image position `n` falls inside (a cache is kept by whole images)."""
        return next((run.start for run in self.runs if run.start < n < run.end), n)


def _key(digest: bytes, index: int) -> int:
    """The key of an image's `index`-th position: negative, the same for the same pixels."""
    return -1 - (int.from_bytes(digest, "big") << 20) - index


class Projector:
    """A loaded `mmproj.gguf` for one text model."""

    def __init__(self, path: Path, model: Any, *, threads: int, gpu: bool) -> None:
        from llama_cpp import mtmd_cpp

        self._mtmd = mtmd_cpp
        mtmd_cpp.mtmd_helper_log_set(_log_callback(), None)  # the projector's and the helper's lines
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = gpu
        params.n_threads = threads
        params.print_timings = False
        params.warmup = False
        self._ctx = mtmd_cpp.mtmd_init_from_file(str(path).encode(), model, params)
        if not self._ctx:
            raise ValueError(f"llama.cpp could not load the projector {path.name}")
        if not mtmd_cpp.mtmd_support_vision(self._ctx):
            self.close()
            raise ValueError(f"the projector {path.name} has no vision encoder")
        if mtmd_cpp.mtmd_decode_use_mrope(self._ctx):
            self.close()
            raise ValueError(f"the projector {path.name} places images with M-RoPE (the Qwen2-VL family), which the "
                             "batched decoder does not support")  # fmt: skip
        self._lock = threading.Lock()  # prompts are tokenised off the model's thread while it encodes images
        self.marker = f"<image-{secrets.token_hex(16)}>"
        """Put where an image goes before the chat template is applied; found again in the rendered prompt."""

    def close(self) -> None:
        """Free the projector."""
        if self._ctx:
            self._mtmd.mtmd_free(self._ctx)
            self._ctx = None

    def marked(self, message: Message) -> Message:
        """The message with the marker at each of its images' places."""
        if not message.images:
            return message
        text, parts, done = message.content, [], 0
        for picture in message.images:
            parts += [text[done : picture.at], self.marker]
            done = picture.at
        return replace(message, content="".join([*parts, text[done:]]))

    def tokenize(self, prompt: str, pictures: list[Picture]) -> ImageTokens:
        """The rendered `prompt`'s tokens, each marker replaced by its picture's positions."""
        texts = prompt.split(self.marker)
        if len(texts) != len(pictures) + 1:
            raise InvalidInput("The model's chat template does not show every image of the conversation.",
                               param="messages")  # fmt: skip
        mtmd = self._mtmd
        keep: list[Any] = []  # ctypes objects the parts point at
        bitmaps = []
        parts = []
        digests = []
        try:
            for i, text in enumerate(texts):
                if text:
                    data = text.encode()
                    item = mtmd.mtmd_input_text(data, len(data), False, True)
                    keep += [data, item]
                    parts.append(mtmd.mtmd_input_part(ctypes.pointer(item), None))
                if i < len(pictures):
                    picture = pictures[i]
                    pixels = (ctypes.c_uint8 * len(picture.rgb)).from_buffer_copy(picture.rgb)
                    bitmap = mtmd.mtmd_bitmap_init(picture.width, picture.height, pixels)
                    if not bitmap:
                        raise InvalidInput("An image could not be given to the model.", param="messages")
                    bitmaps.append(bitmap)
                    digests.append(hashlib.blake2b(picture.rgb, digest_size=8,
                                                   person=picture.width.to_bytes(8, "big")).digest())  # fmt: skip
                    parts.append(mtmd.mtmd_input_part(None, bitmap))
            array = (ctypes.POINTER(mtmd.mtmd_input_part) * len(parts))(*(ctypes.pointer(p) for p in parts))
            chunks = mtmd.mtmd_input_chunks_init()
            tokens = ImageTokens()
            weakref.finalize(tokens, mtmd.mtmd_input_chunks_free, chunks)
            with self._lock:
                status = mtmd.mtmd_tokenize_from_parts(self._ctx, chunks, array, len(parts), False)
            if status != 0:
                raise InvalidInput(f"The model's projector could not read an image (status {status}).",
                                   param="messages")  # fmt: skip
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        self._fill(tokens, chunks, iter(digests))
        if tokens and tokens[-1] < 0:  # the answer's first token needs the logits of a text token
            raise InvalidInput("The prompt ends with an image: the model's chat template puts nothing after it.",
                               param="messages")  # fmt: skip
        return tokens

    def _fill(self, tokens: ImageTokens, chunks: Any, digests: Any) -> None:
        mtmd = self._mtmd
        runs = []
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                n = ctypes.c_size_t()
                pointer = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                tokens.extend(pointer[: n.value])
                continue
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                raise InvalidInput("The model's projector made a part that is not text or an image.",
                                   param="messages")  # fmt: skip
            digest = next(digests)
            start = len(tokens)
            tokens.extend(_key(digest, j) for j in range(mtmd.mtmd_input_chunk_get_n_pos(chunk)))
            runs.append(ImageRun(start, len(tokens), chunk))
        tokens.runs = tuple(runs)

    def evaluate(self, context: Any, run: ImageRun, seq_id: int, batch: int) -> None:
        """Encode an image and put its embeddings at its positions in sequence `seq_id`."""
        done = ctypes.c_int32()
        with self._lock:
            status = self._mtmd.mtmd_helper_eval_chunk_single(
                self._ctx, context, run.chunk, run.start, seq_id, batch, False, ctypes.byref(done)
            )
        if status != 0:
            raise RuntimeError(f"llama.cpp could not evaluate an image (status {status})")


@functools.cache
def _log_callback() -> Any:
    """libmtmd's log lines as log records: its warnings and errors (levels 3 and 4) kept, its chatter dropped. Made
    once and kept for the life of the process (the library holds a pointer to it)."""
    from llama_cpp import llama_log_callback

    @llama_log_callback  # type: ignore[untyped-decorator]
    def forward(level: int, text: bytes, _: Any) -> None:
        if level in (3, 4):
            log.log(logging.WARNING if level == 3 else logging.ERROR, "%s", text.decode(errors="replace").rstrip())

    return forward
