"""Reading the rendered kit: its workloads, their pod templates and containers, and the
settings each container receives. Shared by the tests of tests/deploy."""

from __future__ import annotations

import base64
import functools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "deploy" / "k8s"
KUSTOMIZE = REPO / ".tools" / "bin" / "kustomize"
OVERLAYS = ("dev", "prod")

Manifest = dict[str, Any]

CERCLE_IMAGE = "cercle"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")


@dataclass(frozen=True)
class Workload:
    """A workload of the kit with its pod template."""

    manifest: Manifest

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def template(self) -> Manifest:
        spec = self.manifest["spec"]
        if self.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        template: Manifest = spec["template"]
        return template

    @property
    def pod_spec(self) -> Manifest:
        pod: Manifest = self.template["spec"]
        return pod

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.template["metadata"].get("labels", {})
        return labels

    @property
    def containers(self) -> list[Manifest]:
        containers: list[Manifest] = self.pod_spec["containers"]
        return containers

    @property
    def is_cercle(self) -> bool:
        """Runs the Cercle image (as opposed to Redis)."""
        return any(_image_name(c["image"]) == CERCLE_IMAGE for c in self.containers)

    @property
    def app(self) -> Manifest:
        """The Cercle container."""
        (container,) = [c for c in self.containers if _image_name(c["image"]) == CERCLE_IMAGE]
        return container

    @property
    def command(self) -> list[str]:
        command: list[str] = self.app["command"] + self.app.get("args", [])
        return command

    @property
    def steps(self) -> list[list[str]]:
        """What the Cercle container runs: its command, or each command of a `sh -c` line
        of commands joined by `&&` (run in turn)."""
        if self.command[:2] == ["sh", "-c"]:
            (line,) = self.command[2:]
            return [step.split() for step in line.split("&&")]
        return [self.command]

    @property
    def is_api(self) -> bool:
        return self.kind == "Deployment" and self.command[0] == "gunicorn"


def _image_name(image: str) -> str:
    return image.rsplit("/", 1)[-1].split(":", 1)[0]


def workloads(manifests: list[Manifest]) -> list[Workload]:
    """Every Deployment, StatefulSet, Job and CronJob."""
    return [Workload(m) for m in manifests if m["kind"] in WORKLOAD_KINDS]


def cercle_workloads(manifests: list[Manifest]) -> list[Workload]:
    """The workloads that run the Cercle image."""
    return [w for w in workloads(manifests) if w.is_cercle]


@functools.cache
def render(overlay: str) -> list[Manifest]:
    """`kustomize build deploy/k8s/overlays/<overlay>`, as a list of objects (built once;
    callers only read it)."""
    if not KUSTOMIZE.exists():
        raise AssertionError(f"{KUSTOMIZE} is missing: run `bash tools/k8s/install.sh`")
    result = subprocess.run(
        [str(KUSTOMIZE), "build", str(KIT / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kustomize build {overlay} failed:\n{result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    """The objects of a kind (and name)."""
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    """The one object of that kind and name."""
    (found,) = find(manifests, kind, name)
    return found


def parse_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (comments and blanks skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


PROD_SECRETS_EXAMPLE = KIT / "overlays" / "prod" / "secrets.example.env"


def secret_keys(manifests: list[Manifest], name: str) -> dict[str, str]:
    """The keys of a Secret: rendered (dev generates its own) or, for the Secret an admin
    creates (prod), those listed in the overlay's secrets.example.env."""
    rendered = [
        m
        for m in find(manifests, "Secret")
        if m["metadata"]["name"] == name or m["metadata"]["name"].startswith(f"{name}-")
    ]
    if rendered:
        (secret,) = rendered
        return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    if name == "cercle-secrets":
        return parse_env_file(PROD_SECRETS_EXAMPLE)
    raise AssertionError(f"Secret {name} is neither rendered nor documented")


def config_map(manifests: list[Manifest], name: str) -> dict[str, str]:
    """The data of a ConfigMap, by its name before the hash suffix."""
    (found,) = [
        m for m in find(manifests, "ConfigMap") if m["metadata"]["name"].startswith(f"{name}-")
    ]
    data: dict[str, str] = found.get("data", {})
    return data


def environment_of(manifests: list[Manifest], container: Manifest) -> dict[str, Any]:
    """Every variable a container receives: name -> where from (a value, a reference, or
    `configmap:<name>` / `secret:<name>` for envFrom)."""
    received: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"].rsplit("-", 1)[0]
            for key in config_map(manifests, name):
                received[key] = f"configmap:{name}"
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            base = "cercle-secrets" if name.startswith("cercle-secrets") else name
            for key in secret_keys(manifests, base):
                received[key] = f"secret:{base}"
    for variable in container.get("env", []):
        received[variable["name"]] = variable.get("value", variable.get("valueFrom"))
    return received


def label_selector_matches(selector: Manifest, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def iter_containers(manifests: list[Manifest]) -> Iterator[tuple[Workload, Manifest]]:
    """Every container of every workload."""
    for workload in workloads(manifests):
        for container in workload.containers:
            yield workload, container
