"""`aiserve bench embeddings` runs end to end: its own server, the load generator process, offline numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_bench_reports_levels_offline_and_ratio(data_dir: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "aiserve",
            "bench",
            "embeddings",
            "--concurrency",
            "1,4",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--offline",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 4]
    for level in report["levels"]:
        assert level["errors"] == 0
        assert level["requests"] > 0
        assert level["rps"] > 0
        assert level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert 0 <= level["cpu_share"] <= 1
        assert 0 < level["server_cpu_share"] <= 1
    assert [o["batch_size"] for o in report["offline"]] == [1, 32]
    assert all(o["items_per_s"] > 0 for o in report["offline"])
    assert report["ratio"] is None  # no 32-client level in this short run


def test_bench_classify_reports_the_ratio_and_device_figures(data_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aiserve", "bench", "classify", "--concurrency", "16", "--duration", "0.5",
         "--warmup", "0.2", "--offline", "--device", "cpu", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["levels"][0]["concurrency"] == 16
    assert report["levels"][0]["errors"] == 0
    assert [o["batch_size"] for o in report["offline"]] == [1, 16]
    assert report["ratio"] > 0
    assert "JPEG" in report["workload"]
    facts = report["facts"]
    assert facts["device"] == "cpu"
    assert facts["latency_ms_batch1"] > 0
    assert 4_000_000 < facts["parameters"] < 5_500_000  # EfficientNet-Lite0: 4.65 M
    assert facts["fp32_mb"] == pytest.approx(facts["parameters"] * 4 / 1e6, abs=0.1)


def test_bench_rerank_reports_documents_per_second_against_the_offline_limit(data_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aiserve", "bench", "rerank", "--concurrency", "1,2", "--documents", "8",
         "--duration", "1", "--offline", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 2]
    assert all(lv["errors"] == 0 and lv["documents_per_s"] == pytest.approx(lv["requests_per_s"] * 8, rel=0.01)
               for lv in report["levels"])  # fmt: skip
    assert set(report["offline"]["documents_per_s_by_batch"]) == {"8", "32"}
    assert report["ratio"] > 0


def test_bench_chat_reports_ttft_and_token_rates(data_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aiserve", "bench", "chat", "--concurrency", "1,2", "--duration", "2", "--warmup", "0",
         "--max-tokens", "8", "--offline", "--structured", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [(lv["concurrency"], lv["format"]) for lv in report["levels"]] == [
        (1, "text"), (1, "json_schema"), (2, "text"), (2, "json_schema")]  # fmt: skip
    assert set(report["structured_over_free"]) == {"1", "2"}  # JSON keys
    assert all(ratio > 0 for ratio in report["structured_over_free"].values())
    for level in report["levels"]:
        assert level["errors"] == 0
        assert level["requests"] > 0
        assert level["aggregate_tokens_per_s"] > 0
        assert 0 < level["ttft_p50_ms"] <= level["ttft_p95_ms"]
    assert report["offline"]["runtime"] == "llama.cpp"
    assert report["offline"]["tokens"] == 8
    assert report["ratio_aggregate8_over_single"] is None  # no 8-stream level in this short run


def test_bench_gateway_compares_the_same_route_with_and_without_the_gateway(data_dir: Path) -> None:
    args = ["bench", "gateway", "--concurrency", "1,4", "--duration", "0.5", "--warmup", "0.2", "--json"]
    out = subprocess.run([sys.executable, "-m", "aiserve", *args, "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["storage"] == "sqlite"
    assert report["limiter"] == "memory"
    assert [lv["concurrency"] for lv in report["levels"]] == [1, 4]
    for level in report["levels"]:
        assert level["errors"] == 0  # the gated server admitted every request: the key and the limit worked
        assert level["off_rps"] > 0
        assert level["on_rps"] > 0
        assert level["added_p50_ms"] == pytest.approx(level["on_p50_ms"] - level["off_p50_ms"])


def test_bench_soak_reports_answers_and_memory(data_dir: Path, tmp_path: Path) -> None:
    plot = tmp_path / "soak.png"
    out = subprocess.run(
        [sys.executable, "-m", "aiserve", "bench", "soak", "--duration", "8", "--clients", "3", "--json",
         "--plot", str(plot), "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    kinds = {name.split()[0] for name in report["answers"]}
    assert kinds == {"embeddings", "classify", "chat"}  # all three kinds of traffic ran
    assert all(name.endswith(" 200") for name in report["answers"]), report["answers"]
    assert report["rss_start_mb"] > 50
    assert report["rss_max_mb"] >= report["rss_end_mb"] > 0
    assert len(report["memory"]) >= 4
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_bench_overload_refuses_with_retry_after_and_accounts_for_every_request(data_dir: Path) -> None:
    # a queue of 1 input at 16x the measured capacity: refusals are certain even if a busy machine slowed the
    # capacity run (and so the rate offered) far below what the server can do later
    args = ["bench", "overload", "--duration", "3", "--capacity-duration", "1", "--factor", "16", "--queue", "1",
            "--json", "--data-dir", str(data_dir)]  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "aiserve", *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["capacity"]["rps"] > 0
    assert report["queue_items"] == 1
    assert report["offered_rps"] == pytest.approx(report["capacity"]["rps"] * 16, rel=0.01)
    assert report["sent"] + report["skipped"] > 0
    assert report["admitted"] + report["refused"] + report["other_status"] + report["errors"] == report["sent"]
    assert report["admitted"] > 0
    assert report["refused"] > 0
    assert report["missing_retry_after"] == 0  # every refusal said when to come back
    assert report["other_status"] == 0
    assert set(report["status_counts"]) <= {"0", "200", "503"}
    assert report["refused_p50_ms"] <= report["refused_p99_ms"] <= report["refused_max_ms"]
    assert report["admitted_p50_ms"] <= report["admitted_p99_ms"] <= report["admitted_max_ms"]
    assert report["rss_start_mb"] > 50
    assert report["rss_max_mb"] >= max(report["rss_start_mb"], report["rss_end_mb"])
    assert len(report["memory"]) >= 4
    assert report["rss_slope_mb_per_min"] is not None
    assert 0 < report["server_cpu_share"] <= 1
