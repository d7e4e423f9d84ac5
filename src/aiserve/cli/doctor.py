"""`aiserve doctor`: what this machine offers for inference, and what to do about it."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from aiserve.cli.options import JsonOpt


def doctor(as_json: JsonOpt = False) -> None:
    """CPU, instruction sets that matter for inference, memory, GPUs and CUDA, runtimes and providers."""
    from aiserve.hardware import probe

    report = probe()
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    table = Table(show_header=False, title="aiserve doctor")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    cores = f"{report.logical_cores} logical" + (f", {report.physical_cores} physical" if report.physical_cores else "")
    memory = f"{report.memory_total_gib} GiB total, {report.memory_available_gib} GiB available"
    gpus = "; ".join(f"{g['name']} ({g['memory']}, driver {g['driver']})" for g in report.gpus) or "none found"
    rows = {
        "CPU": f"{report.cpu_model} ({report.architecture})",
        "cores": cores,
        "CPU features": ", ".join(report.cpu_features) or "none of note",
        "memory": memory,
        "GPUs": gpus,
        "torch CUDA": {True: "yes", False: "no", None: "torch not installed"}[report.torch_cuda],
        "ONNX Runtime providers": ", ".join(report.onnxruntime_providers) or "onnxruntime not installed",
        "runtimes": ", ".join(f"{k} {v}" for k, v in report.runtimes.items()),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    console = Console()
    console.print(table)
    for line in report.recommendations:
        console.print(f"- {line}")
