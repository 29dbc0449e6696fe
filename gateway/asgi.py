"""The ASGI entry point that hypercorn loads in every worker process (settings from the environment)."""

from gateway.assembly import create_app
from gateway.logs import configure_logging
from gateway.settings import load_settings

settings = load_settings()
configure_logging(settings.log_level)
app = create_app(settings)
