"""A key/value cache with one row per running answer, so that a transformers model decodes them all in one pass.

Row `i` holds answer `i`'s keys and values from column 0, each row its own length; a decoding step writes one
column per row at that row's own position and attends through a mask that hides each row's unused tail. Rows stay
packed (`0..n-1` are running): when an answer ends, the last row moves into its place, so no step ever gathers or
concatenates the cache. Columns grow by doubling up to the context window, so memory follows the longest answer,
bounded by `rows × context window`.

The object is passed to the model as `past_key_values`; transformers' attention layers call only `update`, and
the explicit 4-D mask and position ids bypass every other cache query.
"""

from __future__ import annotations

from typing import Any

import torch

_FIRST_COLUMNS = 256


class KVRows:
    """Keys and values for up to `rows` answers of up to `capacity` tokens each, on `device`."""

    def __init__(self, rows: int, capacity: int, device: str) -> None:
        self.rows = rows
        self.capacity = capacity
        self.device = torch.device(device)
        self.lengths = [0] * rows
        self._columns = min(_FIRST_COLUMNS, capacity)
        self._keys: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []
        self._write: tuple[Any, ...] = ()

    @torch.inference_mode()
    def prefill(self, model: Any, token_ids: list[int], row: int) -> torch.Tensor:
        """Run a prompt into `row` (replacing what it held); the logits of its last position, shape `(vocab,)`."""
        n = len(token_ids)
        self._reserve(n)
        ids = torch.tensor([token_ids], device=self.device)
        mask = torch.ones(n, n, dtype=torch.bool, device=self.device).tril()[None, None]
        self._write = ("row", row, n)
        out = model(input_ids=ids, position_ids=torch.arange(n, device=self.device)[None], attention_mask=mask,
                    past_key_values=self, use_cache=True, logits_to_keep=1)  # fmt: skip
        self.lengths[row] = n
        logits: torch.Tensor = out.logits[0, -1]
        return logits

    @torch.inference_mode()
    def decode(self, model: Any, tokens: list[int]) -> torch.Tensor:
        """Feed token `tokens[i]` to row `i` for rows `0..len(tokens)-1`; their next-token logits, `(n, vocab)`."""
        n = len(tokens)
        lengths = self.lengths[:n]
        width = max(lengths) + 1
        self._reserve(width)
        positions = torch.tensor(lengths, device=self.device)
        mask = torch.arange(width, device=self.device)[None, :] <= positions[:, None]
        self._write = ("step", torch.arange(n, device=self.device), positions, width)
        out = model(input_ids=torch.tensor(tokens, device=self.device)[:, None], position_ids=positions[:, None],
                    attention_mask=mask[:, None, None, :], past_key_values=self, use_cache=True)  # fmt: skip
        for i in range(n):
            self.lengths[i] += 1
        logits: torch.Tensor = out.logits[:, -1]
        return logits

    @torch.inference_mode()
    def move(self, source: int, target: int) -> None:
        """Copy row `source` over row `target` (the source row is then free)."""
        n = self.lengths[source]
        for store in (*self._keys, *self._values):
            store[target, :, :n] = store[source, :, :n]
        self.lengths[target], self.lengths[source] = n, 0

    def update(
        self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *_args: Any, **_kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Called by each attention layer with the new keys and values: store them, return what it attends to."""
        if layer_idx == len(self._keys):
            shape = (self.rows, key.shape[1], self._columns, key.shape[3])
            self._keys.append(key.new_zeros(shape))
            self._values.append(value.new_zeros(shape))
        keys, values = self._keys[layer_idx], self._values[layer_idx]
        if self._write[0] == "row":
            _, row, n = self._write
            keys[row, :, :n] = key[0]
            values[row, :, :n] = value[0]
            return keys[row : row + 1, :, :n], values[row : row + 1, :, :n]
        _, rows, positions, width = self._write
        keys[rows, :, positions] = key[:, :, 0]
        values[rows, :, positions] = value[:, :, 0]
        n = len(rows)
        return keys[:n, :, :width], values[:n, :, :width]

    def _reserve(self, columns: int) -> None:
        """Make room for `columns` columns, doubling the storage as needed."""
        if columns <= self._columns:
            return
        grown = min(self.capacity, max(columns, 2 * self._columns))
        for stores in (self._keys, self._values):
            for i, old in enumerate(stores):
                new = old.new_zeros((old.shape[0], old.shape[1], grown, old.shape[3]))
                new[:, :, : self._columns] = old
                stores[i] = new
        self._columns = grown
