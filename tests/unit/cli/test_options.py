"""The CLI's shared options: every command keeps its flags (scripts depend on them), and the five limit flags become
the `Limits` a user or key gets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from aiserve.cli import users
from aiserve.cli.main import app
from aiserve.cli.options import limits_from
from aiserve.protocol.keys import Limits, UserOut

pytestmark = pytest.mark.unit

LIMITS = "--concurrent --monthly-requests --monthly-tokens --rpm --tpm"
ADMIN = "--api-key --config --data-dir --url -c"
REMOTE = "--api-key --config --url -c"
BENCH = "--concurrency --config --data-dir --duration --json -c"

FLAGS = {
    "bench chat": f"{BENCH} --api-key --hostile --long-prompts --max-tokens --model --no-hostile --no-long-prompts "
    "--no-offline --no-repeated-prompt --no-structured --offline --repeated-prompt --structured --url --warmup",
    "bench classify": f"{BENCH} --api-key --device --image --model --no-offline --offline --url --warmup",
    "bench embeddings": f"{BENCH} --api-key --model --no-offline --offline --url --warmup",
    "bench gateway": f"{BENCH} --database-url --redis-url --warmup",
    "bench overload": "--api-key --capacity-duration --config --data-dir --duration --factor --json --max-in-flight "
    "--model --pid --queue --url -c",
    "bench rerank": f"{BENCH} --api-key --documents --model --no-offline --offline --url",
    "bench soak": "--clients --data-dir --duration --json --plot",
    "chat": f"{REMOTE} --image --json --json-schema --max-tokens --model --no-stream --stream --system --temperature "
    "--usage",
    "classify": f"{REMOTE} --json --model --top-k",
    "config show": "--config -c",
    "db backup": "--config --data-dir -c",
    "db migrate": "--config --data-dir -c",
    "db restore": "--config --data-dir -c",
    "deploy nginx": "--certificate --certificate-key --config --domain --http-port --https-port --listen-address "
    "--output --upstream -c -o",
    "deploy vm": "--config --domain --email --image --output -c -o",
    "doctor": "--json",
    "embed": f"{REMOTE} --json --model",
    "rerank": f"{REMOTE} --json --lines --model --top",
    "eval": f"{REMOTE} --compare --data --data-dir --out",
    "export": "--bundle --config --data --data-dir --fine-tune-epochs --force --fp16 --max-drop --models --no-force "
    "--no-structured --prune --quantize --structured --version -c -m",
    "keys create": f"{ADMIN} {LIMITS} --expires-days --name --scopes --user -u",
    "keys limits": f"{ADMIN} {LIMITS}",
    "keys list": f"{ADMIN} --json --user -u",
    "keys revoke": ADMIN,
    "mcp": f"{REMOTE} --data-dir --local --model -m",
    "models alias": REMOTE,
    "models aliases": REMOTE,
    "models list": "--config --data-dir -c",
    "models load": REMOTE,
    "models prepare": "--config --data-dir --force --no-force -c",
    "models unalias": REMOTE,
    "models unload": REMOTE,
    "openapi": "--output -o",
    "serve": "--bundle --config --data-dir --device --host --log-format --log-level --max-batch-size --max-queue "
    "--max-wait-ms --model --port --threads -c -m",
    "train": "--arch --augment --batch-size --config --data-dir --device --distill-from --distill-weight --epochs "
    "--flip --freeze --image-size --lr --name --no-augment --no-flip --patience --seed --temperature --test "
    "--train-all --val --version --workers -c -n",
    "usage": f"{REMOTE} --end --json --key --start --user",
    "users create": f"{ADMIN} {LIMITS}",
    "users limits": f"{ADMIN} {LIMITS}",
    "users list": f"{ADMIN} --json",
    "version": "",
}


def commands(group: Any, path: str = "") -> dict[str, Any]:
    """Every leaf command under `group`, by its space-separated path."""
    if not hasattr(group, "commands"):
        return {path: group}
    found: dict[str, Any] = {}
    for name, sub in group.commands.items():
        found |= commands(sub, f"{path} {name}".strip())
    return found


def test_every_command_keeps_its_flags() -> None:
    found = commands(typer.main.get_command(app))
    got = {path: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
           for path, cmd in found.items()}  # fmt: skip
    assert got == {path: set(flags.split()) for path, flags in FLAGS.items()}


def test_api_key_is_read_from_the_environment_wherever_it_is_taken() -> None:
    for path, cmd in commands(typer.main.get_command(app)).items():
        for param in cmd.params:
            if "--api-key" in param.opts:
                assert param.envvar == "AISERVE_API_KEY", path


def test_limits_from_sets_only_the_flags_given_and_zero_clears() -> None:
    limits = limits_from(rpm=60, tpm=None, concurrent=0, monthly_requests=None, monthly_tokens=1000)
    assert limits == Limits(requests_per_minute=60, monthly_tokens=1000)
    assert limits.model_fields_set == {"requests_per_minute", "max_concurrent", "monthly_tokens"}


def test_no_limit_flags_is_no_limits() -> None:
    limits = limits_from(rpm=None, tpm=None, concurrent=None, monthly_requests=None, monthly_tokens=None)
    assert limits.model_fields_set == set()


class FakeAdmin:
    """Records the limits a command asks for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Limits]] = []

    def set_user_limits(self, name: str, limits: Limits) -> UserOut:
        self.asked.append((name, limits))
        return UserOut(id=1, name=name, created_at=datetime(2025, 1, 1, tzinfo=UTC), limits=limits)


@pytest.mark.parametrize(("flag", "value"), [("--url", "http://h:1"), ("--api-key", "sk-admin")])
def test_users_limits_turns_its_flags_into_limits(monkeypatch: pytest.MonkeyPatch, flag: str, value: str) -> None:
    admin, seen = FakeAdmin(), {}
    monkeypatch.delenv("AISERVE_API_KEY", raising=False)

    def admin_for(**given: Any) -> FakeAdmin:
        seen.update(given)
        return admin

    monkeypatch.setattr(users, "admin_for", admin_for)
    args = ["users", "limits", "bob", "--rpm", "60", "--tpm", "0", "--concurrent", "2", "--monthly-requests", "7",
            "--monthly-tokens", "9", flag, value]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert admin.asked == [("bob", Limits(requests_per_minute=60, max_concurrent=2, monthly_requests=7,
                                          monthly_tokens=9))]  # fmt: skip
    assert admin.asked[0][1].model_fields_set == set(Limits.model_fields)
    assert seen[flag.removeprefix("--").replace("-", "_")] == value
    assert "2 at once" in result.output


def test_keys_limits_refuses_a_negative_limit() -> None:
    result = CliRunner().invoke(app, ["keys", "limits", "abc", "--rpm", "-1"])
    assert result.exit_code == 2


@pytest.mark.parametrize("flags", [["--temperature", "2"], ["--distill-weight", "0.5"]])
def test_distillation_flags_need_a_teacher(flags: list[str]) -> None:
    result = CliRunner().invoke(app, ["train", "photos", "--name", "pets", *flags])
    assert result.exit_code == 2
    assert f"Invalid value for {flags[0]}: it needs --distill-from TEACHER." in result.output


@pytest.mark.parametrize("flags", [["--temperature", "0"], ["--distill-weight", "1.5"], ["--distill-weight", "-0.1"]])
def test_distillation_flags_out_of_range_are_refused(flags: list[str]) -> None:
    result = CliRunner().invoke(app, ["train", "photos", "--name", "pets", "--distill-from", "pets@1", *flags])
    assert result.exit_code == 2
    assert f"Invalid value for '{flags[0]}'" in result.output
