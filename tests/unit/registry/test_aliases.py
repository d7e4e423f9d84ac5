"""The alias book: movable aliases kept in `aliases.json`, written whole and atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiserve.errors import InvalidInput, NotFound
from aiserve.registry.aliases import AliasBook, check_alias

pytestmark = pytest.mark.unit


def test_a_missing_file_is_an_empty_book_and_nothing_is_written_until_a_change(tmp_path: Path) -> None:
    book = AliasBook(tmp_path / "models" / "aliases.json")
    assert book.items() == []
    assert book.get("digits") is None
    assert not (tmp_path / "models").exists()


def test_set_move_and_remove_are_written_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "aliases.json"
    book = AliasBook(path)
    book.set("digits", "digits@1")
    book.set("Prod", "all-minilm-l6-v2@1")
    assert json.loads(path.read_text()) == {"digits": "digits@1", "Prod": "all-minilm-l6-v2@1"}

    book.set("DIGITS", "digits@2")  # the same alias, whatever the case: moved, spelt as last set
    assert json.loads(path.read_text()) == {"DIGITS": "digits@2", "Prod": "all-minilm-l6-v2@1"}
    reread = AliasBook(path)
    assert reread.get("digits") == reread.get("Digits") == "digits@2"
    assert reread.items() == [("DIGITS", "digits@2"), ("Prod", "all-minilm-l6-v2@1")]
    assert reread.aliases_of("DIGITS@2") == ["DIGITS"]

    assert reread.remove("prod") == "all-minilm-l6-v2@1"
    assert json.loads(path.read_text()) == {"DIGITS": "digits@2"}
    with pytest.raises(NotFound, match="no alias 'prod'"):
        reread.remove("prod")
    assert [p.name for p in tmp_path.iterdir()] == ["aliases.json"]  # no temporary file left behind


@pytest.mark.parametrize("alias", ["", "  ", "digits@2", "a/b", "x" * 257])
def test_names_that_cannot_be_aliases_are_refused(tmp_path: Path, alias: str) -> None:
    with pytest.raises(InvalidInput):
        check_alias(alias)
    book = AliasBook(tmp_path / "aliases.json")
    with pytest.raises(InvalidInput):
        book.set(alias, "digits@1")
    assert not (tmp_path / "aliases.json").exists()


def test_a_failed_write_leaves_the_book_as_it_was_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "aliases.json"
    book = AliasBook(path)
    book.set("digits", "digits@1")
    path.unlink()
    (path / "in-the-way").mkdir(parents=True)  # a folder where the file goes: the rename over it fails
    with pytest.raises(IsADirectoryError):
        book.set("digits", "digits@2")
    assert book.get("digits") == "digits@1"
    assert [p.name for p in tmp_path.iterdir()] == ["aliases.json"]


@pytest.mark.parametrize(("text", "message"), [("{not json", "not valid JSON"), ('["digits"]', "should map")])
def test_an_unreadable_book_is_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "aliases.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        AliasBook(path)
    assert str(path) in str(caught.value)
