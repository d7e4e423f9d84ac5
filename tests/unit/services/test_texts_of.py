"""Checking an embeddings request's `input` before it is queued."""

from __future__ import annotations

from typing import Any

import pytest

from aiserve.errors import InvalidInput
from aiserve.protocol.embeddings import EmbeddingRequest
from aiserve.services.embeddings import texts_of

pytestmark = pytest.mark.unit


def request(value: Any) -> EmbeddingRequest:
    return EmbeddingRequest(model="some-model", input=value)


def refusal(value: Any, max_inputs: int = 2048) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        texts_of(request(value), max_inputs)
    assert info.value.param == "input"
    return info.value


def test_string_becomes_a_one_item_list() -> None:
    assert texts_of(request("hello world"), 10) == ["hello world"]


def test_list_is_kept_in_order() -> None:
    texts = ["zeta", "alpha", "mu", "alpha"]
    assert texts_of(request(texts), 10) == texts


def test_surrounding_whitespace_is_kept() -> None:
    assert texts_of(request(["  padded  "]), 10) == ["  padded  "]


def test_exactly_max_inputs_is_accepted() -> None:
    assert texts_of(request(["a", "b", "c"]), 3) == ["a", "b", "c"]


def test_empty_list_is_refused() -> None:
    message = refusal([]).message
    assert "empty list" in message
    assert "at least one" in message


@pytest.mark.parametrize("value", ["", "   ", "\n\t "])
def test_empty_string_is_refused(value: str) -> None:
    message = refusal(value).message
    assert "input[0]" in message
    assert "empty" in message


def test_empty_string_in_a_list_is_refused_by_position() -> None:
    message = refusal(["fine", "also fine", " "]).message
    assert "input[2]" in message
    assert "empty" in message


@pytest.mark.parametrize("value", [[1, 2, 3], [[1, 2], [3, 4]]], ids=["list-of-int", "list-of-list-of-int"])
def test_token_ids_are_refused(value: Any) -> None:
    message = refusal(value).message
    assert "token ids" in message
    assert "string" in message


def test_too_many_inputs_are_refused() -> None:
    message = refusal(["a", "b", "c"], max_inputs=2).message
    assert "3" in message
    assert "limit is 2" in message
