"""One error hierarchy, mapped to HTTP once: every exception the package defines is a GatewayError of
`gateway.errors`, and every one of those has its status at the boundary (as httpx checks httpcore's are mapped)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gateway
from gateway import errors
from gateway.web.failures import STATUSES, failure

MODULES = [importlib.import_module(info.name) for info in pkgutil.walk_packages(gateway.__path__, "gateway.")
           if not info.name.endswith(("__main__", ".asgi"))]  # asgi builds an app from the environment


def defined(module: object) -> list[type[BaseException]]:
    return [value for name, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__
            and not name.startswith("_")]


def test_every_exception_the_package_defines_is_in_the_one_hierarchy() -> None:
    strays = [f"{module.__name__}.{kind.__name__}" for module in MODULES for kind in defined(module)
              if module is not errors]
    assert strays == []
    assert all(issubclass(kind, errors.GatewayError) for kind in defined(errors))


def test_every_gateway_error_has_its_own_status_at_the_boundary() -> None:
    unmapped = [kind.__name__ for kind in defined(errors) if kind not in STATUSES]
    assert unmapped == []
    for kind in defined(errors):
        status, code = failure(kind("x") if kind is not errors.InvalidRequest else kind("x", code="c", status=413))
        assert 400 <= status < 600 and code
