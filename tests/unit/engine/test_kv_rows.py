"""The key/value rows with a stand-in model whose keys are the token ids: rows stay packed as answers end, a free
row keeps what its answer held, a prompt takes the row holding the longest start of it, and a prompt that finds none
drops an empty row first, then the least recently kept one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from aiserve.engine.backends.kv_rows import MIN_REUSE, KVRows

pytestmark = pytest.mark.unit


class Echo:
    """One attention layer whose keys and values are the token ids; its "logits" for a position are the ids of the
    columns that position attends to (-1 where masked)."""

    def __call__(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, past_key_values: KVRows,
                 **_: Any) -> SimpleNamespace:  # fmt: skip
        key = input_ids[:, None, :, None].float()  # (batch, heads, tokens, head dim)
        keys = past_key_values.update(key, key, 0)[0]
        seen = keys[:, 0, :, 0].expand(attention_mask.shape[0], -1)
        return SimpleNamespace(logits=torch.where(attention_mask[:, 0, -1:, :], seen[:, None, :], -1.0))


def ids(first: int, n: int = MIN_REUSE + 4) -> list[int]:
    return list(range(first, first + n))


def seen(logits: torch.Tensor) -> list[int]:
    return [int(t) for t in logits.tolist() if t >= 0]


def start(rows: KVRows, tokens: list[int], row: int) -> int:
    """Prefill `tokens` into `row` as the backend does; how many were reused. Asserts the row then attends to
    exactly the prompt."""
    reused = rows.take(tokens, row)
    assert seen(rows.prefill(Echo(), tokens, row, start=reused)) == tokens
    return reused


def test_a_step_writes_each_row_at_its_own_length() -> None:
    rows = KVRows(3, 64, "cpu")
    start(rows, ids(100, 20), 0)
    start(rows, ids(200, 30), 1)
    logits = rows.decode(Echo(), [7, 8])
    assert seen(logits[0]) == [*ids(100, 20), 7]
    assert seen(logits[1]) == [*ids(200, 30), 8]
    assert rows.held[:2] == [[*ids(100, 20), 7], [*ids(200, 30), 8]]


def test_an_ended_answer_trades_places_with_the_last_and_is_kept() -> None:
    rows = KVRows(3, 64, "cpu")
    start(rows, ids(100), 0)
    start(rows, ids(200, 40), 1)
    rows.decode(Echo(), [1, 2])
    rows.release(0, 1)  # the first answer ends while the second runs on
    assert rows.held[0] == [*ids(200, 40), 2]
    assert seen(rows.decode(Echo(), [3])[0]) == [*ids(200, 40), 2, 3]  # the moved row's columns came along
    assert rows.held[1] == [*ids(100), 1]  # kept in the freed row
    # a prompt that goes on from it takes that row, evaluating only the rest
    assert start(rows, [*ids(100), 1, 5, 6], 1) == len(ids(100)) + 1


def test_a_prompt_takes_the_free_row_holding_the_longest_start_of_it() -> None:
    rows = KVRows(3, 64, "cpu")
    for row, first in enumerate((100, 200, 300)):
        start(rows, ids(first), row)
    for row in (2, 1, 0):
        rows.release(row, row)
    assert start(rows, [*ids(300), 9], 0) == len(ids(300))  # row 2's cache comes to row 0, row 0's goes to row 2
    assert sorted(rows.held[1:]) == [ids(100), ids(200)]
    assert start(rows, ids(200), 1) == len(ids(200)) - 1  # a whole kept prompt: its last token is evaluated again


def test_a_short_common_start_is_not_reused() -> None:
    rows = KVRows(2, 64, "cpu")
    start(rows, ids(100), 0)
    rows.release(0, 0)
    assert start(rows, [*ids(100, MIN_REUSE - 1), 7, 8], 0) == 0
    assert rows.held[1] == ids(100)  # moved aside to the empty row, not dropped


def test_a_prompt_that_reuses_nothing_drops_the_least_recently_kept_row() -> None:
    rows = KVRows(3, 64, "cpu")
    for row, first in enumerate((100, 200, 300)):
        start(rows, ids(first), row)
    for row in (2, 1, 0):  # kept in the order 300, 200, 100
        rows.release(row, row)
    assert start(rows, [*ids(200), 9], 0) == len(ids(200))  # 200 is used: 300 is now the least recent
    rows.release(0, 0)
    assert start(rows, ids(900), 0) == 0
    assert sorted(rows.held[1:]) == [ids(100), [*ids(200), 9]]


def test_a_failed_prefill_leaves_only_the_reused_columns_held() -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("out of memory")

    rows = KVRows(2, 64, "cpu")
    start(rows, ids(100), 0)
    rows.release(0, 0)
    tokens = [*ids(100), 5, 6]
    reused = rows.take(tokens, 0)
    with pytest.raises(RuntimeError):
        rows.prefill(broken, tokens, 0, start=reused)
    assert rows.held[0] == ids(100)
