"""`aiserve eval MODEL --compare`: a classifier and every compressed variant made from it here (int8, fp16, pruned,
sparse, pruned + int8, distilled students and their int8), measured side by side on the same test images: accuracy,
top-1 agreement with the original, file size, in-process latency at batch 1 and 16, and which variants are on the Pareto
front of accuracy against latency (no other is both as accurate and as fast, and better at one)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiserve.errors import InvalidInput
from aiserve.registry.catalog import catalog
from aiserve.registry.prepare import model_dir
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings
from aiserve.training import splits
from aiserve.training.compress import agreement, measure
from aiserve.training.dataset import Sample
from aiserve.training.evaluate import Progress, evaluate, open_classifier, pixels
from aiserve.training.report import plot_pareto
from aiserve.training.workflow import find_model, labelled

_STEPS = {"aiserve export --quantize": "int8", "aiserve export --fp16": "fp16", "aiserve train": "distilled"}
WANTED = ("int8", "pruned", "pruned + int8", "distilled")
"""The variants the report names a command for when they are missing."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One variant's measurements."""

    model: str
    kind: str
    """How it was made from the original: `original`, `int8`, `pruned50`, `pruned50 + int8`, `distilled`, …"""
    accuracy: float
    agreement: float
    """Share of test images whose top-1 class is the original's."""
    size_bytes: int
    latency_ms_batch1: float
    latency_ms_batch16: float
    pareto: bool = False


@dataclass(frozen=True, slots=True)
class Report:
    """The comparison and where it was written."""

    model: str
    data: str
    images: int
    entries: list[Entry]
    skipped: dict[str, str]
    """Variants left out, and why (a student that trained on some of the test images)."""
    missing: dict[str, str]
    """Variants not made yet, and the command that makes each."""
    folder: Path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        fields = {k: v for k, v in asdict(self).items() if k != "folder"}
        return {**fields, "entries": [asdict(e) for e in self.entries]}


def lineage(settings: Settings, original: ModelSpec) -> list[tuple[ModelSpec, str]]:
    """Every local model made from `original` (quantised, pruned, or taught by it), directly or in steps, with how:
    `pruned50 + int8` is the int8 of the 50 % pruned model."""
    made: dict[str, tuple[ModelSpec, str | None, str]] = {}
    for spec in catalog(settings):
        try:
            manifest = json.loads((model_dir(settings.models_dir, spec) / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        parent = manifest.get("source") or manifest.get("distilled_from")
        step = _step(manifest)
        if isinstance(parent, str) and step:
            made[spec.key] = (spec, parent, step)
    found = []
    for key, (spec, _, _) in made.items():
        steps: list[str] = []
        at = key
        while at in made and len(steps) <= len(made):
            _, parent, step = made[at]
            steps.append(step)
            at = parent or ""
        if at == original.key:
            found.append((spec, " + ".join(reversed(steps))))
    return sorted(found, key=lambda pair: (pair[1].count("+"), pair[1], pair[0].key))


def _step(manifest: dict[str, Any]) -> str | None:
    made_by = manifest.get("made_by", "")
    if made_by == "aiserve export --prune":
        return str(manifest.get("pruned", "pruned"))  # pruned50, sparse50
    if made_by == "aiserve train" and "distilled_from" not in manifest:
        return None
    return _STEPS.get(made_by)


def compare(
    settings: Settings,
    name: str,
    *,
    data: Path | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
) -> Report:
    """Measure `name` and its variants on its test split (or `data`) and write `compare.json`, `compare.md` and
    `pareto.png` to `out` (default: `eval/compare/` in the model's folder)."""
    spec, folder = find_model(settings, name)
    classes, test, described = labelled(folder, spec.key, data)
    if not test:
        raise InvalidInput(f"{described} has no test images to compare on; pass --data DIR.")
    tested = {s.path.resolve() for s in test}
    threads = settings.cpu_threads()
    variants = [(spec, folder, "original")]
    skipped: dict[str, str] = {}
    for variant, kind in lineage(settings, spec):
        where = model_dir(settings.models_dir, variant)
        seen = _trained_on(where) & tested
        if seen:
            skipped[variant.key] = f"trained on {len(seen)} of the {len(test)} test images"
            continue
        variants.append((variant, where, kind))
    measured: list[Entry] = []
    reference: list[str] = []
    for done, (variant, where, kind) in enumerate(variants):
        try:
            entry, answers = _measure(variant, where, kind, classes, test, reference, threads)
        except Exception as error:  # a damaged variant (ONNX Runtime's own errors too) must not stop the report
            if not reference:
                raise  # the original itself
            skipped[variant.key] = f"could not be measured: {error}"
            continue
        reference = reference or answers
        measured.append(entry)
        if progress is not None:
            progress(done + 1, len(variants))
    entries = [
        Entry(**{**asdict(e), "pareto": front}) for e, front in zip(measured, pareto_front(measured), strict=True)
    ]
    made = {_plus(kind) for _, _, kind in variants}
    missing = {kind: _command(kind, spec.key) for kind in WANTED if kind not in made}
    target = out or folder / "eval" / "compare"
    report = Report(spec.key, described, len(test), entries, skipped, missing, target)
    write(report)
    return report


def _measure(
    variant: ModelSpec,
    where: Path,
    kind: str,
    classes: list[str],
    test: list[Sample],
    reference: list[str],
    threads: int,
) -> tuple[Entry, list[str]]:
    """One variant's numbers on the test images (agreement against `reference`, or itself when there is none yet),
    and its answers."""
    backend = open_classifier(where, variant.options, threads=threads)
    try:
        result = evaluate(backend, classes, test)
        answers = [p.predicted for p in result.predictions]
        numbers = measure(where / "model.onnx", {"input": pixels(backend, test[:16])}, None, threads=threads)
    finally:
        backend.unload()
    entry = Entry(
        model=variant.key,
        kind=kind,
        accuracy=result.metrics.accuracy,
        agreement=agreement(reference or answers, answers),
        size_bytes=numbers.size_bytes,
        latency_ms_batch1=numbers.latency_ms_batch1,
        latency_ms_batch16=numbers.latency_ms_batch16,
    )
    return entry, answers


def _plus(kind: str) -> str:
    """The kind without ratios: `pruned50 + int8` → `pruned + int8`."""
    return re.sub(r"(pruned|sparse)\d+", r"\1", kind)


def _command(kind: str, key: str) -> str:
    return {
        "int8": f"aiserve export {key} --quantize",
        "pruned": f"aiserve export {key} --prune 0.5 --structured",
        "pruned + int8": f"aiserve export {key} --prune 0.5 --structured --quantize",
        "distilled": f"aiserve train DATA --name NAME --arch small-cnn --distill-from {key}",
    }[kind]


def _trained_on(folder: Path) -> set[Path]:
    """The images a variant learnt from, by its `split.json` (none recorded: a model not trained here)."""
    try:
        payload = json.loads((folder / splits.FILE).read_text())
    except (OSError, ValueError):
        return set()
    return {Path(path).resolve() for name in ("train", "val") for path, _ in payload.get(name, [])}


def pareto_front(entries: Sequence[Entry]) -> list[bool]:
    """Whether each entry is on the front: no other is at least as accurate and as fast at batch 1, and better at
    one of the two."""

    def beaten(e: Entry) -> bool:
        return any(
            o.accuracy >= e.accuracy
            and o.latency_ms_batch1 <= e.latency_ms_batch1
            and (o.accuracy > e.accuracy or o.latency_ms_batch1 < e.latency_ms_batch1)
            for o in entries
        )

    return [not beaten(e) for e in entries]


def write(report: Report) -> None:
    """`compare.json`, `compare.md` and `pareto.png` in the report's folder."""
    report.folder.mkdir(parents=True, exist_ok=True)
    (report.folder / "compare.json").write_text(json.dumps(report.to_dict(), indent=2))
    kinds = [e.kind for e in report.entries]
    plot_pareto(
        [
            (e.kind if kinds.count(e.kind) == 1 else f"{e.kind} ({e.model})", e.latency_ms_batch1, e.accuracy, e.pareto)
            for e in report.entries
        ],
        report.folder / "pareto.png",
        title=f"{report.model}: accuracy against latency ({report.images} images)",
    )
    (report.folder / "compare.md").write_text(markdown(report))


def markdown(report: Report) -> str:
    """The report in short."""
    original = report.entries[0]
    lines = [
        f"# {report.model} and its compressed variants",
        "",
        f"On {report.data} ({report.images} images). Latency: the median of in-process ONNX Runtime runs on this "
        "machine, one after the other, without decoding; speed-up against the original in brackets. Pareto: no other "
        "variant is as accurate and as fast at batch 1, and better at one of the two.",
        "",
        "| model | what | accuracy | agreement | size | batch 1 | batch 16 | Pareto |",
        "|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for e in report.entries:
        lines.append(
            f"| `{e.model}` | {e.kind} | {e.accuracy:.2%} | {e.agreement:.2%} | {e.size_bytes / 1e6:.2f} MB | "
            f"{e.latency_ms_batch1:.2f} ms ({original.latency_ms_batch1 / e.latency_ms_batch1:.2f}×) | "
            f"{e.latency_ms_batch16:.2f} ms ({original.latency_ms_batch16 / e.latency_ms_batch16:.2f}×) | "
            f"{'✓' if e.pareto else ''} |"
        )
    lines += ["", "![accuracy against latency](pareto.png)"]
    if report.skipped:
        lines += ["", "Left out:", *(f"- `{k}`: {why}." for k, why in report.skipped.items())]
    if report.missing:
        lines += ["", "Not made yet:", *(f"- {kind}: `{cmd}`" for kind, cmd in report.missing.items())]
    return "\n".join(lines) + "\n"
