"""Knowledge distillation: a trained classifier (the teacher) is run once over the training images through its own
serving backend, and the student learns from the teacher's softened outputs as well as from the labels.

The teacher sees each image as the server would show it to the teacher (its own decoding, crop and normalisation),
without augmentation: one set of logits per training image, cached for the whole run, so distillation costs one
teacher pass plus plain training. When the student's images are augmented, its soft targets are still those of the
un-augmented image, a close match since augmentation only crops and shifts a little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from aiserve.engine.backends.onnx_classifier import OnnxClassifierBackend
from aiserve.training.dataset import DatasetError, Sample

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class DistillConfig:
    """Learn from `teacher` (a catalogue classifier with the dataset's classes) as well as from the labels: the loss
    is `weight · T² · KL(teacher_T ‖ student_T) + (1 − weight) · cross-entropy`, where `_T` is the softmax of the
    logits divided by the temperature `T`."""

    teacher: str
    temperature: float = 4.0
    weight: float = 0.7
    """The soft (teacher) loss's share, in [0, 1]."""

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"The distillation temperature must be positive, not {self.temperature}.")
        if not 0 <= self.weight <= 1:
            raise ValueError(f"The distillation weight must be in [0, 1], not {self.weight}.")


@dataclass(frozen=True, slots=True)
class SoftTargets:
    """The teacher's logits for every training image (row `i` for image `i` of the training split), in the dataset's
    class order, and how to mix them with the labels."""

    logits: torch.Tensor
    temperature: float
    weight: float

    def loss(self, student: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The distillation loss of a batch of student logits for the training images numbered `index`."""
        t = self.temperature
        teacher = self.logits[index.cpu()].to(student.device)  # only the batch's rows go to the device
        soft = functional.kl_div(
            functional.log_softmax(student / t, dim=1),
            functional.log_softmax(teacher / t, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        hard = functional.cross_entropy(student, labels)
        return self.weight * t * t * soft + (1 - self.weight) * hard


def check_labels(teacher: str, labels: Sequence[str], classes: Sequence[str], source: str) -> list[int]:
    """For each of the dataset's classes, the teacher's output column; the teacher must have exactly the dataset's
    classes (in any order)."""
    if sorted(labels) != sorted(classes) or len(set(labels)) != len(labels):
        raise DatasetError(
            f"{teacher} cannot teach on {source}: its labels {list(labels)} are not the dataset's classes "
            f"{list(classes)}."
        )
    return [list(labels).index(c) for c in classes]


def teacher_logits(
    backend: OnnxClassifierBackend,
    samples: Sequence[Sample],
    columns: Sequence[int],
    *,
    batch_size: int = 32,
    progress: Progress | None = None,
) -> NDArray[np.float32]:
    """The teacher's logits (N×classes, columns in the dataset's class order) for `samples`, in order: each image is
    decoded and preprocessed by the teacher's backend and run once."""
    rows: list[NDArray[np.float32]] = []
    done = 0
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        batch = backend.preprocess([s.path.read_bytes() for s in chunk])
        if batch.errors:
            row, error = next(iter(batch.errors.items()))
            raise DatasetError(f"The teacher cannot read {chunk[row].path}: {error}")
        rows.append(backend.forward(batch)[:, list(columns)])
        done += len(chunk)
        if progress is not None:
            progress(done, len(samples))
    if not rows:
        return np.zeros((0, len(columns)), dtype=np.float32)
    return np.concatenate(rows).astype(np.float32)
