"""Datasets: the three layouts, a repeatable stratified split, the summary, and clear errors for bad folders."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from aiserve.training.dataset import DatasetError, load_dataset
from aiserve.vision.augment import Augment
from aiserve.vision.preprocess import Transform

pytestmark = pytest.mark.unit


def shapes(root: Path, classes: dict[str, int], *, size: tuple[int, int] = (24, 20), mode: str = "RGB") -> Path:
    """`n` images per class: a filled circle or square on a plain background."""
    for c, (label, n) in enumerate(classes.items()):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image = Image.new("RGB", size, (20 * i % 255, 40, 60))
            image.paste((200, 100 + c * 50, 30), (2, 2, 10 + c, 10 + c))
            image.convert(mode).save(folder / f"{label}-{i}.png")
    return root


def test_an_image_folder_is_split_per_class_by_seed(tmp_path: Path) -> None:
    root = shapes(tmp_path / "ds", {"circle": 20, "square": 10})
    first = load_dataset(root, val=0.2, test=0.2, seed=7)
    again = load_dataset(root, val=0.2, test=0.2, seed=7)
    other = load_dataset(root, val=0.2, test=0.2, seed=8)

    assert first.classes == ["circle", "square"]
    assert first.splits == again.splits
    assert first.splits["test"] != other.splits["test"]
    assert first.summary.counts == {
        "train": {"circle": 12, "square": 6},
        "val": {"circle": 4, "square": 2},
        "test": {"circle": 4, "square": 2},
    }
    every = [s.path for samples in first.splits.values() for s in samples]
    assert len(every) == len(set(every)) == 30
    assert first.summary.sizes == {"24x20": 30}
    assert first.summary.modes == {"RGB": 30}


def test_split_folders_and_a_csv_are_read_as_given(tmp_path: Path) -> None:
    shapes(tmp_path / "given" / "train", {"a": 3, "b": 3})
    shapes(tmp_path / "given" / "validation", {"a": 1, "b": 1})
    shapes(tmp_path / "given" / "test", {"a": 2, "b": 1})
    given = load_dataset(tmp_path / "given")
    assert {name: len(s) for name, s in given.splits.items()} == {"train": 6, "val": 2, "test": 3}

    table = tmp_path / "labels.csv"
    rows = [f"given/train/{label}/{label}-{i}.png,{label}" for label in ("a", "b") for i in range(3)]
    table.write_text("path,label\n" + "\n".join(rows) + "\n")
    from_csv = load_dataset(table, val=0.0, test=0.34, seed=1)
    assert from_csv.classes == ["a", "b"]
    assert from_csv.summary.counts["test"] == {"a": 1, "b": 1}
    assert len(from_csv.splits["train"]) == 4


def test_unreadable_files_are_skipped_and_listed_and_mixed_modes_are_fine(tmp_path: Path) -> None:
    root = shapes(tmp_path / "ds", {"grey": 4}, mode="L")
    shapes(root, {"palette": 4}, mode="P", size=(30, 30))
    shapes(root, {"alpha": 4}, mode="RGBA")
    (root / "grey" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "alpha" / "notes.txt").write_text("not an image")
    truncated = (root / "palette" / "palette-0.png").read_bytes()
    (root / "palette" / "cut.png").write_bytes(truncated[: len(truncated) // 2])

    dataset = load_dataset(root, val=0, test=0)

    assert sum(len(s) for s in dataset.splits.values()) == 12
    skipped = {Path(path).name: reason for path, reason in dataset.summary.skipped}
    assert set(skipped) == {"broken.png", "notes.txt", "cut.png"}
    assert "not an image file" in skipped["notes.txt"]
    assert dataset.summary.modes == {"L": 4, "P": 4, "RGBA": 4}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root.mkdir(), "No images in"),
        (lambda root: shapes(root, {"only": 5}), "has one class ('only'); a classifier needs at least two"),
        (lambda root: (shapes(root, {"a": 3}), (root / "empty").mkdir()), "No readable images for class 'empty'"),
        (
            lambda root: (shapes(root, {"a": 3}), (root / "b").mkdir(), (root / "b" / "x.jpg").write_bytes(b"junk")),
            "No readable images for class 'b' in",
        ),
        (lambda root: None, "does not exist"),
    ],
    ids=["empty-folder", "one-class", "empty-class", "only-corrupt-files", "missing"],
)
def test_bad_datasets_are_clear_errors(tmp_path: Path, make: object, message: str) -> None:
    root = tmp_path / "ds"
    make(root)  # type: ignore[operator]
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(root)


def test_a_bad_csv_row_names_its_line(tmp_path: Path) -> None:
    table = tmp_path / "labels.csv"
    table.write_text("a.png,cat\nb.png\n")
    with pytest.raises(DatasetError, match="row 2: expected 'path,label'"):
        load_dataset(table)


def test_augmented_boxes_stay_inside_the_image_and_repeat_by_seed() -> None:
    transform, augment = Transform(size=32, resize=32), Augment(flip=True)
    boxes = [augment.box(transform, 40, 25, random.Random(i)) for i in range(200)]
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= 40
        assert 0 <= top < bottom <= 25
        assert right - left == pytest.approx(bottom - top)
    assert boxes[3] == augment.box(transform, 40, 25, random.Random(3))
    assert len(set(boxes)) > 150
    flips = [augment.flips(random.Random(i)) for i in range(200)]
    assert 60 < sum(flips) < 140
    assert not any(Augment().flips(random.Random(i)) for i in range(50))
