"""`latency-slayer`: serve the gateway, or prepare the local embedding model once after install."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys

from gateway.errors import SettingsError, StartupError
from gateway.logs import configure_logging
from gateway.setting_values import positive
from gateway.settings import Settings, load_settings


def exposure_warning(host: str, settings: Settings) -> str | None:
    """A warning when whoever reaches this address could spend the server's upstream key."""
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    held = [name for name, key in [("OPENAI_API_KEY", settings.openai_api_key),
                                   ("ANTHROPIC_API_KEY", settings.anthropic_api_key),
                                   *((provider.api_key_env or "", provider.api_key)
                                     for provider in settings.upstreams_file)] if key]
    if loopback or not held or settings.gateway_api_keys:
        return None
    which = "that key" if len(held) == 1 else "those keys"
    return (f"warning: listening on {host} with {', '.join(held)} set and no GATEWAY_API_KEYS: anyone who can reach "
            f"this port can spend {which}. Set GATEWAY_API_KEYS, or bind 127.0.0.1 behind your own proxy.")


def _serve(args: argparse.Namespace) -> int:
    from gateway.assembly import preflight
    from gateway.serving import serve, server_config, stop_on_signals

    settings = load_settings()
    configure_logging(settings.log_level)
    warning = exposure_warning(args.host, settings)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    asyncio.run(preflight(settings))
    config = server_config(f"{args.host}:{args.port}", graceful_timeout=settings.shutdown_grace_secs)
    config.worker_class = "uvloop" if sys.platform != "win32" else "asyncio"
    stop = stop_on_signals(args.workers)
    print(f"latency-slayer listening on http://{args.host}:{args.port} "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}, "
          f"store: {'redis' if settings.redis_url else 'in-process'})", flush=True)
    return serve(config, stop=stop, workers=args.workers, delay=settings.shutdown_delay_secs)


def _prepare(args: argparse.Namespace) -> int:
    from gateway.embedding.model_files import prepared_model_path

    try:
        from gateway.embedding.prepare import prepare_model
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] != "onnx":
            raise
        # A plain `pip install` leaves this build-time extra out: the gateway runs without it.
        raise StartupError("prepare-model needs the 'prepare' extra (onnx is not installed): "
                           "pip install 'latency-slayer[prepare]'") from missing

    settings = load_settings()
    print(f"prepared {prepare_model(prepared_model_path(settings.latency_slayer_model_dir))}")
    return 0



def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="latency-slayer", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway (settings from the environment and .env)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: loopback only; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=positive, default=1)
    serve.set_defaults(run=_serve)
    prepare = commands.add_parser("prepare-model", help="re-quantise the local embedding model once")
    prepare.set_defaults(run=_prepare)
    from gateway.evaluation import add_eval_command  # the embedder loads only when `eval` runs

    add_eval_command(commands)
    from gateway.demo.command import add_demo_command  # its server imports load only when the CLI runs

    add_demo_command(commands)
    from gateway.warming.command import add_warm_command

    add_warm_command(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (SettingsError, StartupError) as error:
        print(f"latency-slayer: {error}", file=sys.stderr)
        return 2
