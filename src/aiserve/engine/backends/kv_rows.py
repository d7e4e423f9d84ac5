"""A key/value cache with one row per running answer, so that a transformers model decodes them all in one pass.

Row `i` holds answer `i`'s keys and values from column 0, each row its own length; a decoding step writes one
column per row at that row's own position and attends through a mask that hides each row's unused tail. Rows stay
packed (`0..n-1` are running): when an answer ends, it trades places with the last running row, so no step ever
gathers or concatenates the cache. Columns grow by doubling up to the context window, so memory follows the longest
answer, bounded by `rows × context window`.

The free rows (`n..rows-1`) keep what ended answers held, with the tokens it stands for (`held`): a new prompt
takes the free row holding the longest start of it (a shared system prompt, the earlier turns of a conversation) and
evaluates only the rest. A prompt that finds none takes an empty row, or else the least recently kept one.

The object is passed to the model as `past_key_values`; transformers' attention layers call only `update`, and
the explicit 4-D mask and position ids bypass every other cache query.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

_FIRST_COLUMNS = 256

MIN_REUSE = 16
"""The fewest tokens worth taking from a kept row: below that, moving rows costs about what evaluating saves."""


class KVRows:
    """Keys and values for up to `rows` answers of up to `capacity` tokens each, on `device`."""

    def __init__(self, rows: int, capacity: int, device: str) -> None:
        self.rows = rows
        self.capacity = capacity
        self.device = torch.device(device)
        self.held: list[list[int]] = [[] for _ in range(rows)]
        """The tokens whose keys and values each row holds, from column 0 (a free row keeps them for reuse)."""
        self._columns = min(_FIRST_COLUMNS, capacity)
        self._keys: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []
        self._write: tuple[Any, ...] = ()
        self._clock = itertools.count(1)
        self._kept_at = [0] * rows
        """When each free row's cache was last kept or used, for evicting the least recently used."""

    def take(self, token_ids: list[int], row: int) -> int:
        """Ready `row`, the first free row, for a prompt of `token_ids`: bring there the free row that holds the
        longest start of it (at least `MIN_REUSE` tokens), or else an empty or the least recently used one, whose
        cache is dropped. How many of the prompt's tokens `row` holds then (never all: the last one is evaluated
        for its logits)."""
        free = range(row, self.rows)
        same = {r: _common(self.held[r], token_ids) for r in free}
        best = max(free, key=same.__getitem__)
        reused = min(same[best], len(token_ids) - 1)
        if reused < MIN_REUSE:
            if self.held[row]:  # its cache moves to an empty row, or over the least recently used one
                victim = min(free, key=lambda r: (bool(self.held[r]), self._kept_at[r]))
                if victim != row:
                    self.move(row, victim)
            self.held[row] = []
            return 0
        if best != row:
            self.swap(best, row)
        return reused

    def release(self, row: int, last: int) -> None:
        """Row `row`'s answer ended and `last` is the last running row: they trade places, so the running rows stay
        packed and the ended answer's cache is kept in the free row `last`."""
        if len(self.held[row]) < MIN_REUSE:  # not worth keeping
            if row != last:
                self.move(last, row)
            self.held[last] = []
            return
        if row != last:
            self.swap(row, last)
        self._kept_at[last] = next(self._clock)

    @torch.inference_mode()
    def prefill(self, model: Any, token_ids: list[int], row: int, start: int = 0) -> torch.Tensor:
        """Run a prompt into `row`, whose first `start` columns already hold `token_ids[:start]` (see `take`); the
        logits of its last position, shape `(vocab,)`."""
        n = len(token_ids)
        self._reserve(n)
        self.held[row] = token_ids[:start]  # until the rest is written: a failed pass leaves only this intact
        ids = torch.tensor([token_ids[start:]], device=self.device)
        # the new tokens (rows) see the kept columns and, causally, each other
        mask = torch.ones(n - start, n, dtype=torch.bool, device=self.device).tril(diagonal=start)[None, None]
        self._write = ("row", row, start, n)
        out = model(input_ids=ids, position_ids=torch.arange(start, n, device=self.device)[None],
                    attention_mask=mask, past_key_values=self, use_cache=True, logits_to_keep=1)  # fmt: skip
        self.held[row] = list(token_ids)
        logits: torch.Tensor = out.logits[0, -1]
        return logits

    @torch.inference_mode()
    def decode(self, model: Any, tokens: list[int]) -> torch.Tensor:
        """Feed token `tokens[i]` to row `i` for rows `0..len(tokens)-1`; their next-token logits, `(n, vocab)`."""
        n = len(tokens)
        lengths = [len(held) for held in self.held[:n]]
        width = max(lengths) + 1
        self._reserve(width)
        positions = torch.tensor(lengths, device=self.device)
        mask = torch.arange(width, device=self.device)[None, :] <= positions[:, None]
        self._write = ("step", torch.arange(n, device=self.device), positions, width)
        out = model(input_ids=torch.tensor(tokens, device=self.device)[:, None], position_ids=positions[:, None],
                    attention_mask=mask[:, None, None, :], past_key_values=self, use_cache=True)  # fmt: skip
        for held, token in zip(self.held, tokens, strict=False):
            held.append(token)
        logits: torch.Tensor = out.logits[:, -1]
        return logits

    @torch.inference_mode()
    def move(self, source: int, target: int) -> None:
        """Copy row `source` over row `target`, whose cache is dropped (the source row is then empty)."""
        n = len(self.held[source])
        for store in (*self._keys, *self._values):
            store[target, :, :n] = store[source, :, :n]
        self.held[target], self.held[source] = self.held[source], []
        self._kept_at[target] = self._kept_at[source]

    @torch.inference_mode()
    def swap(self, a: int, b: int) -> None:
        """Rows `a` and `b` trade places."""
        if not self.held[a]:  # one copy is enough
            self.move(b, a)
            return
        if not self.held[b]:
            self.move(a, b)
            return
        width = max(len(self.held[a]), len(self.held[b]))
        for store in (*self._keys, *self._values):
            store[[a, b], :, :width] = store[[b, a], :, :width]  # the right side is gathered into a new tensor first
        self.held[a], self.held[b] = self.held[b], self.held[a]
        self._kept_at[a], self._kept_at[b] = self._kept_at[b], self._kept_at[a]

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
            _, row, start, n = self._write
            keys[row, :, start:n] = key[0]
            values[row, :, start:n] = value[0]
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


def _common(a: list[int], b: list[int]) -> int:
    """The length of the longest common start of `a` and `b` (list slices compare at C speed: bisect on them)."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while high - low > 1:  # a[:low] == b[:low] and a[:high] != b[:high]
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low
