"""`scripts/kubernetes/`, checked offline: every object valid against the Kubernetes API schema (the
`kubernetes-validate` package ships them), and consistent with the gateway: each variable a real setting with a
value it accepts, probes on paths the app serves, ports that meet, a kill timeout longer than the shutdown takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.assembly import create_app
from gateway.cli import parser
from gateway.serving import BACKSTOP_SECS
from gateway.setting_table import SETTINGS
from gateway.settings import load_settings
from tests.support.processes import NO_DOTENV

FOLDER = Path(__file__).resolve().parents[2] / "scripts" / "kubernetes"
OLDEST_KUBERNETES = "1.30.0"  # an older cluster than most run: the manifests use nothing newer


def _objects() -> list[dict[str, Any]]:
    return [document for path in sorted(FOLDER.glob("*.yaml"))
            for document in yaml.safe_load_all(path.read_text()) if document]


OBJECTS = _objects()


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [o for o in OBJECTS if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


def _gateway_container() -> dict[str, Any]:
    [container] = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _environment() -> dict[str, str]:
    return {**_one("ConfigMap")["data"], **_one("Secret")["stringData"]}


@pytest.mark.parametrize("document", OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
def test_every_object_is_valid_kubernetes(document: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(document, version, strict=True)  # strict: a misspelt field is an error


def test_every_variable_is_a_setting_the_gateway_accepts() -> None:
    environment = _environment()
    assert set(environment) <= {setting.env for setting in SETTINGS}
    settings = load_settings(environ=environment, dotenv=NO_DOTENV)  # a bad value raises SettingsError
    assert settings.shutdown_delay_secs > 0  # a Service needs the delay to notice the pod is going
    container = _gateway_container()
    assert [source["configMapRef"]["name"] for source in container["envFrom"] if "configMapRef" in source] == [
        _one("ConfigMap")["metadata"]["name"]]
    assert [source["secretRef"]["name"] for source in container["envFrom"] if "secretRef" in source] == [
        _one("Secret")["metadata"]["name"]]


def test_the_pod_outlives_the_shutdown_it_is_given() -> None:
    settings = load_settings(environ=_environment(), dotenv=NO_DOTENV)
    pod = _one("Deployment")["spec"]["template"]["spec"]
    # Beyond delay + grace: hypercorn's backstop, which a client still reading when the grace ends holds the close
    # of the Gateway back to, then the close's own bounds (cache writes 5 s, metrics 2 s, spans 3 s) before SIGKILL.
    close = 5 + 2 + 3
    assert pod["terminationGracePeriodSeconds"] >= (settings.shutdown_delay_secs + settings.shutdown_grace_secs
                                                    + BACKSTOP_SECS + close)
    readiness = _gateway_container()["readinessProbe"]
    # The delay covers at least one failed readiness probe (how the kubelet learns) and then some.
    assert settings.shutdown_delay_secs > readiness["periodSeconds"] * readiness["failureThreshold"]


def test_probes_ask_paths_the_gateway_serves_on_the_port_it_listens_on() -> None:
    container = _gateway_container()
    served = {route.path for route in create_app(load_settings(environ={}, dotenv=NO_DOTENV)).routes}
    args = parser().parse_args(container["args"][1:])
    [port] = container["ports"]
    assert port["containerPort"] == args.port and args.host == "0.0.0.0"
    probes = [container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert {probe["path"] for probe in probes} == {"/livez", "/readyz"} <= served
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert all(probe["port"] in (port["name"], port["containerPort"]) for probe in probes)
    service = _one("Service", "latency-slayer")
    assert service["spec"]["ports"][0]["targetPort"] in (port["name"], port["containerPort"])
    labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_the_redis_url_names_the_redis_service_and_port() -> None:
    redis = _one("Service", "latency-slayer-redis")
    url = load_settings(environ=_environment(), dotenv=NO_DOTENV).redis_url
    assert url == f"redis://{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}/0"
    assert _one("StatefulSet")["spec"]["template"]["spec"]["containers"][0]["image"] == "redis:8"


def test_nothing_runs_as_root_and_no_real_secret_is_shipped() -> None:
    for kind in ("Deployment", "StatefulSet"):
        pod = _one(kind)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert all(c["securityContext"]["allowPrivilegeEscalation"] is False for c in pod["containers"])
    assert all("replace-me" in value for value in _one("Secret")["stringData"].values())
