"""The container image, built and run for real without a Docker engine: podman builds it (chroot isolation, the
host network, and the host's CA bundle and wheel folders mounted in) on a base made by debootstrap, and the image
runs from `podman image mount` under an overlay, in its own mount, PID and network namespaces (loopback only, so
nothing at run time can reach a network), with `/data` bound to a host folder as the volume."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
BASE = "localhost/aiserve-base:bookworm"
IMAGE = "localhost/aiserve:test"
PODMAN = ["podman", "--cgroup-manager=cgroupfs"]
UID = 10001
LLAMA_WHEELS = Path.home() / ".cache" / "aiserve" / "wheels" / "llama-noamx-noomp"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCAL_INDEXES = [Path("/opt/pypi"), Path("/opt/pypi-more")]
LOCAL_WHEELS = Path("/opt/wheels")


def require_tools() -> None:
    missing = [tool for tool in ("podman", "debootstrap", "unshare", "nsenter", "ip") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test installs them)")


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def base_image() -> str:
    """A Debian bookworm base with Python, made once by debootstrap (no registry is reachable here)."""
    if subprocess.run([*PODMAN, "image", "exists", BASE]).returncode == 0:
        return BASE
    with tempfile.TemporaryDirectory(prefix="aiserve-base-") as tmp:
        root = Path(tmp) / "root"
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
              "bookworm", str(root), "http://deb.debian.org/debian"], timeout=900)  # fmt: skip
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            _run([*PODMAN, "import", "-", BASE], stdin=tar.stdout, timeout=300)
        assert tar.returncode == 0, "tar of the debootstrap root failed"
    return BASE


def build_image() -> tuple[str, float]:
    """Build deploy/Dockerfile as a user would, with this machine's package sources passed in; the tag and the
    seconds the build took (layers are cached between runs)."""
    mounts = [f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    find_links = []
    if LOCAL_WHEELS.is_dir():  # PyTorch's CPU wheel
        mounts.append(f"{LOCAL_WHEELS}:{LOCAL_WHEELS}:ro")
        find_links.append(str(LOCAL_WHEELS))
    args = ["--build-arg", f"BASE_IMAGE={base_image()}"]
    if list(LLAMA_WHEELS.glob("llama_cpp_python-*.whl")):  # the wheel `make install` compiled: no compilers needed
        mounts.append(f"{LLAMA_WHEELS}:/wheels/llama:ro")
        find_links.append("/wheels/llama")
        args += ["--build-arg", "COMPILE_TOOLS="]
    indexes = [index for index in LOCAL_INDEXES if index.is_dir()]
    mounts += [f"{index}:{index}:ro" for index in indexes]
    args += ["--build-arg", f"PIP_FIND_LINKS={' '.join(find_links)}",
             "--build-arg", f"PIP_EXTRA_INDEX_URL={' '.join(f'file://{i}/simple' for i in indexes)}"]  # fmt: skip
    started = time.monotonic()
    _run([*PODMAN, "build", "--format=docker", "--isolation=chroot", "--network=host", "-f", "deploy/Dockerfile",
          "-t", IMAGE, *args,
          *(flag for mount in mounts for flag in ("-v", mount)), "."], cwd=ROOT, timeout=1800)  # fmt: skip
    return IMAGE, time.monotonic() - started


def image_config(image: str) -> dict[str, Any]:
    """The image's Config (Env, Entrypoint, User, ExposedPorts, Volumes, Healthcheck)."""
    inspected = json.loads(_run([*PODMAN, "image", "inspect", image]).stdout)[0]
    config: dict[str, Any] = inspected["Config"]
    config["Healthcheck"] = inspected.get("Healthcheck") or config.get("Healthcheck")
    return config


class Container:
    """The image's entrypoint running as a container would: its own root, PID 1, loopback-only network."""

    def __init__(self, image: str, data: Path, env: dict[str, str]) -> None:
        self.image, self.data, self.env = image, data, env
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.log = data.parent / f"{data.name}.log"
        self.work: Path | None = None

    def start(self) -> None:
        config = image_config(self.image)
        lower = _run([*PODMAN, "image", "mount", self.image]).stdout.strip()
        work = self.work = Path(tempfile.mkdtemp(prefix="aiserve-ctr-"))
        for name in ("upper", "work", "root"):
            (work / name).mkdir()
        root = work / "root"
        env = dict(item.split("=", 1) for item in config["Env"]) | self.env
        command = [*config["Entrypoint"], *(config.get("Cmd") or [])]
        script = (
            f"mount -t overlay overlay -o lowerdir={lower},upperdir={work}/upper,workdir={work}/work {root} && "
            f"mount --bind {self.data} {root}/data && mount -t proc proc {root}/proc && "
            f"mount --rbind /dev {root}/dev && mount -t tmpfs tmpfs {root}/tmp && ip link set lo up && "
            f"exec chroot --userspec={UID}:{UID} {root} /usr/bin/env -i "
            + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + shlex.join(command)
        )  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(["unshare", "--mount", "--pid", "--net", "--fork", "--propagation",
                                             "private", "sh", "-c", script], stdout=log, stderr=log)  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.pid and time.monotonic() < deadline:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            text = children.read_text().split() if children.exists() else []
            self.pid = int(text[0]) if text else 0
            time.sleep(0.05)
        assert self.pid, "the container's process did not start"

    def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """An HTTP request to the server inside, from inside its network namespace (it has no other way in)."""
        code = ("import httpx, json, sys; a = json.load(sys.stdin); "
                "r = httpx.request(a['m'], 'http://127.0.0.1:8000' + a['p'], timeout=60, **a['kw']); "
                "print(json.dumps([r.status_code, r.json() if r.headers.get('content-type', '').startswith("
                "'application/json') else r.text]))")  # fmt: skip
        done = subprocess.run(["nsenter", f"--net=/proc/{self.pid}/ns/net", sys.executable, "-c", code],
                              input=json.dumps({"m": method, "p": path, "kw": kw}), capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        if done.returncode != 0:
            return 0, done.stderr[-300:]
        status, body = json.loads(done.stdout)
        return int(status), body

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, f"the container exited: {self.log.read_text()[-2000:]}"
            if self.request("GET", "/ready")[0] == 200:
                return
            time.sleep(0.5)
        raise TimeoutError(f"not ready: {self.log.read_text()[-2000:]}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to the server (PID 1 inside); its exit code."""
        assert self.process is not None
        subprocess.run(["kill", "-TERM", str(self.pid)], check=False)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9


@contextmanager
def running(image: str, data: Path, env: dict[str, str]) -> Iterator[Container]:
    """A started, ready container; stopped (if still running) on the way out."""
    container = Container(image, data, env)
    container.start()
    try:
        container.wait_ready()
        yield container
    finally:
        if container.process is not None and container.process.poll() is None:
            container.process.kill()
            container.process.wait()
        subprocess.run([*PODMAN, "image", "unmount", image], capture_output=True, check=False)
        if container.work is not None:
            shutil.rmtree(container.work, ignore_errors=True)
