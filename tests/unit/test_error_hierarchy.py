"""One error hierarchy, mapped to HTTP once: every exception the package defines is a GatewayError of
`gateway.errors`, and every one of those has its status at the boundary (as httpx checks httpcore's are mapped).
Read from the source, so a private class, one nested in a class or a function, and one in a module that cannot be
imported on its own are all seen."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path
from typing import Any

from gateway import errors
from gateway.web.failures import STATUSES, failure

PACKAGE = Path(errors.__file__).resolve().parent


def _module_name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")


def _class_defs() -> list[tuple[str, ast.ClassDef]]:
    return [(_module_name(path), node) for path in sorted(PACKAGE.rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)]


def _base(module: str, expression: ast.expr) -> Any:
    """A base class as the module's own names resolve it; a name they do not hold is the test's failure, not a
    skip: a class whose bases cannot be read here is defined where no reader can follow it."""
    namespace = {**vars(builtins), **vars(importlib.import_module(module))}
    return eval(compile(ast.Expression(expression), module, "eval"), namespace)


def exceptions_defined() -> dict[str, bool]:
    """By `module.Class`, each class the package defines that derives from an exception (False) or whose bases
    could not be resolved, so that it may (True: unknown)."""
    found: dict[str, bool] = {}
    for module, node in _class_defs():
        try:
            bases = [_base(module, base) for base in node.bases]
        except Exception:
            found[f"{module}.{node.name}"] = True
            continue
        if any(isinstance(base, type) and issubclass(base, BaseException) for base in bases):
            found[f"{module}.{node.name}"] = False
    return found


def test_the_source_reading_sees_private_and_nested_classes() -> None:
    """The reader itself, on a module it must not miss anything in: the error classes of `gateway.errors`."""
    names = {name for name in exceptions_defined() if name.startswith("gateway.errors.")}
    assert names == {f"gateway.errors.{kind.__name__}" for kind in vars(errors).values()
                     if isinstance(kind, type) and issubclass(kind, BaseException)
                     and kind.__module__ == "gateway.errors"}


def test_every_exception_the_package_defines_is_in_the_one_hierarchy() -> None:
    strays = {name: "bases unresolvable" if unknown else "defined outside gateway.errors"
              for name, unknown in exceptions_defined().items() if not name.startswith("gateway.errors.")}
    assert strays == {}
    assert all(issubclass(kind, errors.GatewayError) for kind in _gateway_errors())


def _gateway_errors() -> list[type[errors.GatewayError]]:
    return [kind for kind in vars(errors).values()
            if isinstance(kind, type) and issubclass(kind, BaseException) and kind.__module__ == "gateway.errors"]


def test_every_gateway_error_has_its_own_status_at_the_boundary() -> None:
    unmapped = [kind.__name__ for kind in _gateway_errors() if kind not in STATUSES]
    assert unmapped == []
    for kind in _gateway_errors():
        status, code = failure(kind("x") if kind is not errors.InvalidRequest else kind("x", code="c", status=413))
        assert 400 <= status < 600 and code
