"""Every object of both overlays is valid for the Kubernetes API: built-in kinds against
the Kubernetes JSON schemas (kubernetes-validate, which bundles them: no network), the
operators' custom resources against the subset of their CRDs this kit uses."""

from __future__ import annotations

import jsonschema
import pytest
from kubernetes_validate import utils as kubernetes_validate

from tests.deploy.kit import Manifest
from tests.deploy.operator_schemas import CUSTOM_RESOURCE_SCHEMAS

# The oldest release the kit supports (README: prerequisites) and the newest known.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_builtin_object_matches_the_kubernetes_schema(
    manifests: list[Manifest], version: str
) -> None:
    errors = []
    for manifest in manifests:
        if _custom_resource_key(manifest) in CUSTOM_RESOURCE_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            errors.append(f"{_name(manifest)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{_name(manifest)}: not a Kubernetes {version} kind")
    assert errors == []


def test_every_custom_resource_matches_its_operator_schema(manifests: list[Manifest]) -> None:
    errors = []
    custom = [m for m in manifests if _custom_resource_key(m) in CUSTOM_RESOURCE_SCHEMAS]
    for manifest in custom:
        schema = CUSTOM_RESOURCE_SCHEMAS[_custom_resource_key(manifest)]
        for error in jsonschema.Draft202012Validator(schema).iter_errors(manifest):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{_name(manifest)}: {path}: {error.message}")
    assert errors == []
    kinds = {m["kind"] for m in custom}
    assert kinds == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "MongoDBCommunity"}


def test_operator_schemas_refuse_a_misspelt_field() -> None:
    # The structural schemas would be worthless if they let anything through.
    topic = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "t", "labels": {"strimzi.io/cluster": "cercle"}},
        "spec": {"topicName": "t", "partition": 6, "replicas": 1},
    }
    schema = CUSTOM_RESOURCE_SCHEMAS[("kafka.strimzi.io/v1beta2", "KafkaTopic")]
    assert not jsonschema.Draft202012Validator(schema).is_valid(topic)


def test_kubernetes_schemas_refuse_a_misspelt_field() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetport": 8080}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSIONS[0], strict=True)


def _custom_resource_key(manifest: Manifest) -> tuple[str, str]:
    return manifest["apiVersion"], manifest["kind"]


def _name(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"
