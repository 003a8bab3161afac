"""Shared by the tests: a real kvws server started as a child process, tokens
minted by ``kvws token``, a TCP proxy that can cut connections, and a
recorder of subscription events with bounded waits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

import kvws

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
#: The server binary: $KVWS_BIN, else the debug build of this repository.
KVWS_BIN = os.path.abspath(os.environ.get("KVWS_BIN") or HERE / "../../../target/debug/kvws")
#: How long any wait in a test may last, in seconds.
PATIENCE = 10.0


def run(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Runs an async test body, bounded."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def until(what: str, pred: Callable[[], Any], timeout: float = PATIENCE) -> None:
    """Waits until ``pred()`` is true, polling; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def secret_file(directory: str | None = None) -> str:
    """A secret file as the server wants it: 48 random bytes, base64, mode 600."""
    directory = directory or tempfile.mkdtemp(prefix="kvws-py-")
    path = os.path.join(directory, "secret")
    with open(path, "w") as f:
        f.write(base64.b64encode(secrets.token_bytes(48)).decode())
    os.chmod(path, 0o600)
    return path


async def mint_token(
    secret: str,
    *,
    role: str = "guest",
    ids: tuple[str, ...] = ("app1",),
    access: str = "readwrite",
    ttl: str = "1h",
) -> str:
    """Mints a token with ``kvws token``."""
    args = ["token", "--secret-file", secret, "--role", role, "--access", access, "--ttl", ttl]
    if role == "guest":
        for i in ids:
            args += ["--id", i]
    proc = await asyncio.create_subprocess_exec(
        KVWS_BIN, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), PATIENCE)
    if proc.returncode != 0:
        raise RuntimeError(f"kvws token failed: {err.decode()}")
    return out.decode().strip()


def sign_token(secret: str, claims: dict[str, Any]) -> str:
    """Signs claims (HS256) with the secret file's key, as any backend would:
    for tokens ``kvws token`` will not make, such as one already expired."""
    key = Path(secret).read_text().strip().encode()

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    body = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    sig = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


class Server:
    """``kvws`` with ``args`` on ``port`` (0: a free one, read back from its log
    line ``listening on http://ADDR/``)."""

    def __init__(self, args: list[str] | None = None, port: int = 0) -> None:
        self.args = list(args or [])
        self.dir = tempfile.mkdtemp(prefix="kvws-py-")
        self.log_path = os.path.join(self.dir, "server.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [KVWS_BIN, "--port", str(port), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + PATIENCE
        while True:
            found = re.search(r"listening on http://(\S+?)/", self.log())
            if found:
                self.addr = found.group(1)
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"kvws exited at start:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"kvws did not start:\n{self.log()}")
            time.sleep(0.01)
        self.port = int(self.addr.rsplit(":", 1)[1])
        self.url = f"ws://{self.addr}/"

    def log(self) -> str:
        return Path(self.log_path).read_text()

    def stop(self) -> None:
        """SIGTERM and wait for the exit (a graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                self.kill()

    async def astop(self) -> None:
        """``stop()`` without blocking the event loop (whose clients the
        server waits for while it closes their connections)."""
        await asyncio.to_thread(self.stop)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Proxy:
    """A TCP proxy in front of a server: ``cut()`` drops every connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None
        self.url = ""

    @classmethod
    async def start(cls, upstream_port: int) -> Proxy:
        p = cls(upstream_port)
        p.server = await asyncio.start_server(p._serve, "127.0.0.1", 0)
        port = p.server.sockets[0].getsockname()[1]
        p.url = f"ws://127.0.0.1:{port}/"
        return p

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                w.close()
                self.writers.discard(w)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        """Drops every connection; new ones are refused until ``reopen()``."""
        self.open = False
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    def reopen(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


class Recorder:
    """Collects a subscription's events; ``wait_for`` finds one with a bound."""

    def __init__(self) -> None:
        self.events: list[kvws.Event] = []

    def __call__(self, event: kvws.Event) -> None:
        self.events.append(event)

    def of(self, *types: str, start: int = 0) -> list[Any]:
        return [e for e in self.events[start:] if e.type in types]

    async def wait_for(self, what: str, pred: Callable[[Any], bool], start: int = 0) -> Any:
        found: list[Any] = []

        def check() -> bool:
            found[:] = [e for e in self.events[start:] if pred(e)][:1]
            return bool(found)

        await until(what, check)
        return found[0]


def watch_events(kv: kvws.Client) -> list[dict[str, Any]]:
    """A client's connection events, recorded as dicts with their ``name``."""
    seen: list[dict[str, Any]] = []
    for name in ("connecting", "open", "closed", "resynced", "authenticated", "error"):
        kv.on(name, lambda detail, name=name: seen.append({"name": name, **detail}))
    return seen


async def first(*aws: Awaitable[Any]) -> None:
    """Waits for the first of several awaitables."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
