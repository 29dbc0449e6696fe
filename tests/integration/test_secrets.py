"""No secret ever reaches a log line, at any log level: not the client's API key, not OPENAI_API_KEY, not a gateway
key (accepted or refused), not ADMIN_TOKEN, not the password in REDIS_URL. Checked while the gateway does
everything it can log about: hits, misses, streams, bad input, its own 500s, every upstream failure, Redis down,
refused access. Once in this process with every logger forced to DEBUG, once through the real
`latency-slayer serve` with LOG_LEVEL=debug, reading its whole output. The access log is part of both, and its
lines carry no tenant digest, no query string and no credential header either."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from gateway.logs import ACCESS_LOGGER
from gateway.wire.canonical import tenant_digest
from tests.support.redis_server import free_port
from tests.support.traffic import wait_until


def _secret(kind: str) -> str:
    return f"sk-{kind}-{uuid.uuid4().hex}"


CLIENT_KEY = _secret("client")
UPSTREAM_KEY = _secret("upstream")
GATEWAY_KEY = _secret("gateway")
REFUSED_KEY = _secret("refused")
ADMIN_TOKEN = _secret("admin")
METRICS_TOKEN = _secret("metrics")
REDIS_PASSWORD = f"pw{uuid.uuid4().hex}"
SECRETS = {"client key": CLIENT_KEY, "OPENAI_API_KEY": UPSTREAM_KEY, "gateway key": GATEWAY_KEY,
           "refused key": REFUSED_KEY, "ADMIN_TOKEN": ADMIN_TOKEN, "METRICS_TOKEN": METRICS_TOKEN,
           "Redis password": REDIS_PASSWORD}


def leaks(text: str) -> list[str]:
    """Which secrets appear in `text`: whole, or any 10 characters in a row of their random part, so that a key
    cut short or masked in the middle still counts (10 hex digits do not occur in a log by chance)."""
    found = []
    for name, secret in SECRETS.items():
        core = secret.rsplit("-", 1)[-1].removeprefix("pw")
        if secret in text or any(core[at:at + 10] in text for at in range(len(core) - 9)):
            found.append(name)
    return found


class _Everything(logging.Handler):
    """Keeps every record fully formatted: message, arguments, traceback and stack."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.stack_info:
            text += "\n" + record.stack_info
        self.lines.append(f"{text} | args={record.args!r}")


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    """Every logger of the process at DEBUG (hypercorn sets its own to INFO, httpx is often quietened) and one
    handler on the root that sees them all; the levels are restored afterwards."""
    handler = _Everything()
    root = logging.getLogger()
    saved = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
             if isinstance(logger, logging.Logger)}
    saved_root = root.level
    access = logging.getLogger(ACCESS_LOGGER)
    saved_propagate, access.propagate = access.propagate, True  # the CLI's set-up gives it a handler of its own
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def force_debug() -> None:
        for logger in logging.root.manager.loggerDict.values():
            if isinstance(logger, logging.Logger):
                logger.setLevel(logging.DEBUG)
                logger.disabled = False

    force_debug()
    handler.force_debug = force_debug  # type: ignore[attr-defined]  # again once a server created its loggers
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        access.propagate = saved_propagate
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _sdk(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=10)


def _quietly(call) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(openai.APIError, httpx.HTTPError):
        call()


def _drive(base_url: str, url: str, key: str, fake_upstream, *, admin: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Everything a gateway logs about: hits, misses, streams, embeddings, bad input, upstream failures."""
    sdk = _sdk(base_url, key)
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How do I reset my password?"}]}
    for _ in range(2):  # a miss, then a hit
        sdk.chat.completions.create(**ask)
        with sdk.chat.completions.create(**ask, stream=True) as chunks:
            list(chunks)
        sdk.embeddings.create(model="text-embedding-3-small", input="secret-free text")
    sdk.chat.completions.create(model="gpt-4o-mini",
                                messages=[{"role": "user", "content": "How can I reset my password?"}])
    _quietly(lambda: sdk.models.list())
    for status in (400, 401, 429, 500, 503):
        fake_upstream.fail_next(status, headers={"retry-after": "1"})
        _quietly(lambda: sdk.chat.completions.create(**ask, extra_headers={"cache-control": "no-cache"}))
    fake_upstream.malformed_next("json")
    _quietly(lambda: sdk.chat.completions.create(**ask, extra_headers={"cache-control": "no-cache"}))
    fake_upstream.break_stream_next(after_events=2)
    _quietly(lambda: list(sdk.chat.completions.create(**ask, stream=True, extra_headers={"cache-control": "no-cache"})))
    fake_upstream.fail_next(500, path="/v1/embeddings")
    _quietly(lambda: sdk.embeddings.create(model="text-embedding-3-small", input="other"))
    auth = {"authorization": f"Bearer {key}"}
    with httpx.Client(timeout=10) as http:
        for body in (b"{not json", b"[]", b'{"model": 3, "messages": []}', b'{"messages": [{"role": []}]}',
                     b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "modalities": 5}'):
            http.post(f"{base_url}/chat/completions", content=body, headers=auth)  # some of these are gateway 500s
        for header, value in (("x-cache-ttl", b"\xb2"), ("x-route", b"bad route!"), ("x-cache-threshold", b"9"),
                              ("openai-organization", b"\xe9t\xe9")):  # two of these are gateway 500s
            http.post(f"{base_url}/chat/completions", json=ask, headers=[*auth.items(), (header, value)])
        http.get(f"{url}/v1/%00", headers=auth)
        http.get(f"{url}/nope", headers=auth)
        for token in (METRICS_TOKEN, REFUSED_KEY):
            http.get(f"{url}/metrics", headers={"authorization": f"Bearer {token}"})
            http.get(f"{url}/dashboard/data", auth=("ops", token))
        http.post(f"{base_url}/cache/feedback", json={"id": "nope", "rating": "bad"}, headers=auth)
        if admin:
            for token in (ADMIN_TOKEN, REFUSED_KEY):
                http.get(f"{url}/admin/stats", headers={"authorization": f"Bearer {token}"})
                http.post(f"{url}/admin/flush", json={"tenant_key": key}, headers={"authorization": f"Bearer {token}"})
        http.get(f"{url}/healthz")


def _drive_keyless(base_url: str, fake_upstream) -> None:  # type: ignore[no-untyped-def]
    """Requests with no Authorization at all: the gateway calls the upstream with OPENAI_API_KEY."""
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Keyless question?"}]}
    with httpx.Client(timeout=10) as http:
        for _ in range(2):
            http.post(f"{base_url}/chat/completions", json=ask)
            http.post(f"{base_url}/chat/completions", json={**ask, "stream": True})
            http.post(f"{base_url}/embeddings", json={"model": "text-embedding-3-small", "input": "keyless"})
        fake_upstream.fail_next(429)
        http.post(f"{base_url}/chat/completions", json=ask, headers={"cache-control": "no-cache"})
        http.get(f"{base_url}/models")


def _access_lines(lines: list[str]) -> list[dict]:
    """The access log's lines among `lines`, checked for what only they could leak: tenant digests, query strings,
    credential headers."""
    found = [orjson.loads(line[line.index("{"):].split(" | args=")[0]) for line in lines if '"request_id":' in line]
    digests = [tenant_digest(key) for key in (CLIENT_KEY, GATEWAY_KEY, UPSTREAM_KEY)]
    for entry in found:
        text = orjson.dumps(entry).decode()
        assert not any(digest in text or digest[:16] in text for digest in digests), text
        assert "?" not in entry["path"] and "bearer" not in text.lower(), text
    return found


def test_no_secret_in_any_log_record_in_process(make_gateway, fake_upstream, redis_server, all_logs) -> None:
    redis_url = redis_server.url.replace("redis://", f"redis://default:{REDIS_PASSWORD}@")
    gateway = make_gateway("redis", LOG_LEVEL="debug", OPENAI_API_KEY=UPSTREAM_KEY, ADMIN_TOKEN=ADMIN_TOKEN,
                           METRICS_TOKEN=METRICS_TOKEN, REDIS_URL=redis_url, UPSTREAM_TIMEOUT_SECS="0.5")
    all_logs.force_debug()  # type: ignore[attr-defined]
    _drive(gateway.base_url, gateway.url, CLIENT_KEY, fake_upstream)
    _drive_keyless(gateway.base_url, fake_upstream)
    fake_upstream.delay_next(2.0)
    _quietly(lambda: _sdk(gateway.base_url, CLIENT_KEY).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "slow"}]))
    # Redis down: the outage warning carries the driver's error text.
    redis_server.stop()
    try:
        _quietly(lambda: _sdk(gateway.base_url, CLIENT_KEY).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "while Redis is down"}]))
        httpx.get(f"{gateway.url}/healthz")
    finally:
        redis_server.restart()
    wait_until(lambda: httpx.get(f"{gateway.url}/healthz").json()["status"] == "ok", timeout=5)

    # Gateway keys: the accepted key, a refused one; a Redis refusing the credentials; an unreachable upstream.
    keyed = make_gateway("memory", LOG_LEVEL="debug", OPENAI_API_KEY=UPSTREAM_KEY, GATEWAY_API_KEYS=GATEWAY_KEY)
    _drive(keyed.base_url, keyed.url, GATEWAY_KEY, fake_upstream, admin=False)
    _quietly(lambda: _sdk(keyed.base_url, REFUSED_KEY).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "let me in"}]))
    refused = make_gateway("redis", LOG_LEVEL="debug", OPENAI_API_KEY=UPSTREAM_KEY,
                           REDIS_URL=redis_server.url.replace("redis://", f"redis://nobody:{REDIS_PASSWORD}@"),
                           UPSTREAM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    _quietly(lambda: _sdk(refused.base_url, CLIENT_KEY).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "nobody home"}]))
    for served in (gateway, keyed, refused):
        served.drain()

    text = "\n".join(all_logs.lines)
    assert len(all_logs.lines) > 20, "the run logged almost nothing: the capture is not working"
    assert "bypass the cache" in text  # the Redis outage was logged (with its error text)
    leaked = {name: [line[:300] for line in all_logs.lines if leaks(line) and name in leaks(line)][:3]
              for name in leaks(text)}
    assert not leaked, f"secrets in log records: {leaked}"
    logged = _access_lines(all_logs.lines)
    assert len(logged) > 40 and {"/v1/models", "/metrics", "/healthz"} <= {entry["path"] for entry in logged}
    # Nor in what the state endpoints answer.
    for path, headers in (("/healthz", {}), ("/admin/stats", {"authorization": f"Bearer {ADMIN_TOKEN}"})):
        answer = httpx.get(f"{gateway.url}{path}", headers=headers).text
        assert not leaks(answer.replace(ADMIN_TOKEN, "")), f"{path}: {answer[:300]}"


def test_no_secret_in_the_served_process_output_at_debug(fake_upstream, redis_server, tmp_path: Path) -> None:
    """The real CLI: its logging set-up, hypercorn's own logging, everything on stdout and stderr."""
    port = free_port()
    name = f"s{uuid.uuid4().hex[:10]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI", "REDIS", "GATEWAY"))}
    env.update(LOG_LEVEL="debug", OPENAI_API_KEY=UPSTREAM_KEY, ADMIN_TOKEN=ADMIN_TOKEN, METRICS_TOKEN=METRICS_TOKEN,
               UPSTREAM_BASE_URL=fake_upstream.base_url, INDEX_NAME=f"idx:{name}", KEY_PREFIX=f"{name}:",
               REDIS_URL=redis_server.url.replace("redis://", f"redis://default:{REDIS_PASSWORD}@"),
               STORE_RETRY_SECS="0.2", PYTHONUNBUFFERED="1")
    output = tmp_path / "gateway.log"
    cli = Path(sys.executable).with_name("latency-slayer")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "gateway"]
    with open(output, "wb") as sink:
        # cwd: an empty directory, so that no developer's .env is read.
        process = subprocess.Popen([*command, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                   cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None

        assert wait_until(up, timeout=60, interval=0.2) and process.poll() is None, output.read_text()[-2000:]
        _drive(f"{url}/v1", url, CLIENT_KEY, fake_upstream)
        _drive_keyless(f"{url}/v1", fake_upstream)
        # A key in the query string (httpx would log the URL, but the CLI keeps it at WARNING).
        httpx.get(f"{url}/v1/models?api_key={CLIENT_KEY}", headers={"authorization": f"Bearer {CLIENT_KEY}"})
        redis_server.stop()
        try:
            _quietly(lambda: _sdk(f"{url}/v1", CLIENT_KEY).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "while Redis is down"}]))
        finally:
            redis_server.restart()
        time.sleep(0.3)  # the last log lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    text = output.read_text(errors="replace")
    assert "DEBUG" in text, f"LOG_LEVEL=debug logged no DEBUG line: {text[-1000:]}"
    leaked = {name: [line[:300] for line in text.splitlines() if name in leaks(line)][:3] for name in leaks(text)}
    assert not leaked, f"secrets in the gateway's output: {leaked}"
    logged = _access_lines([line for line in text.splitlines() if line.startswith('{"time":')])  # bare JSON
    assert len(logged) > 40 and {"/v1/models", "/metrics", "/healthz"} <= {entry["path"] for entry in logged}
