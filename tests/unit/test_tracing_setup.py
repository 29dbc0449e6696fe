"""Tracing as the settings ask for it: off by default (the no-op tracer, nothing imported); on without the `otel`
extra, a start-up error that says what to install, from the app and from `latency-slayer serve` before it binds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway import cli
from gateway.assembly import create_app, make_tracer
from gateway.errors import StartupError
from gateway.settings import load_settings
from gateway.tracing import NO_TRACING

ON = {"OTEL_TRACES_EXPORTER": "otlp"}


def settings(env: dict[str, str]):
    return load_settings(environ=env, dotenv=Path("/nonexistent/.env"))


@pytest.fixture
def without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the `otel` extra were not installed: importing it fails."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "gateway.otel", raising=False)


def test_tracing_is_off_by_default() -> None:
    off = settings({})
    assert off.otel_traces_exporter == "none" and make_tracer(off) is NO_TRACING
    assert off.otel_exporter_otlp_endpoint == "http://localhost:4318"


def test_an_unknown_exporter_is_refused() -> None:
    with pytest.raises(Exception, match="OTEL_TRACES_EXPORTER"):
        settings({"OTEL_TRACES_EXPORTER": "jaeger"})


def test_off_the_app_starts_without_opentelemetry(without_opentelemetry: None) -> None:
    create_app(settings({}))


def test_on_without_the_package_the_app_does_not_start(without_opentelemetry: None) -> None:
    with pytest.raises(StartupError, match=r"OTEL_TRACES_EXPORTER=otlp .*pip install 'latency-slayer\[otel\]'"):
        create_app(settings(ON))


def test_on_without_the_package_serve_stops_before_binding(without_opentelemetry: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.delenv("REDIS_URL", raising=False)

    def serving(config: object) -> int:
        raise AssertionError("it went on to serve")

    monkeypatch.setattr("hypercorn.run.run", serving)
    assert cli.main(["serve", "--host", "127.0.0.1", "--port", "1"]) == 2
    assert "pip install 'latency-slayer[otel]'" in capsys.readouterr().err
