"""Every object of both overlays is valid for the Kubernetes API: built-in kinds against
the Kubernetes JSON schemas (kubernetes-validate, which bundles them: no network), the
custom resources (Strimzi, MongoDB, Gateway API, KEDA) against the subset of their CRDs
this kit uses, at their current API versions."""

from __future__ import annotations

import jsonschema
import pytest
from kubernetes_validate import utils as kubernetes_validate

from tests.deploy.kit import Manifest
from tests.deploy.operator_schemas import (
    CUSTOM_RESOURCE_SCHEMAS,
    GATEWAY_API,
    KEDA,
    STRIMZI,
    Schema,
)

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
    assert kinds == {key[1] for key in CUSTOM_RESOURCE_SCHEMAS}


def test_no_object_uses_an_api_version_the_operators_dropped(manifests: list[Manifest]) -> None:
    # Strimzi 1.0 serves kafka.strimzi.io/v1 only; Ingress gave way to the Gateway API.
    versions = {m["apiVersion"] for m in manifests}
    assert not {v for v in versions if v.startswith("kafka.strimzi.io/")} - {STRIMZI}
    assert "Ingress" not in {m["kind"] for m in manifests}


def _topic(**spec: object) -> Manifest:
    return {
        "apiVersion": STRIMZI,
        "kind": "KafkaTopic",
        "metadata": {"name": "t", "labels": {"strimzi.io/cluster": "cercle"}},
        "spec": {"topicName": "t", "replicas": 1, **spec},
    }


def _route(rule: Manifest) -> Manifest:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {"parentRefs": [{"name": "g"}], "rules": [rule]},
    }


def _scaled_object(metadata: dict[str, str]) -> Manifest:
    return {
        "apiVersion": KEDA,
        "kind": "ScaledObject",
        "metadata": {"name": "s"},
        "spec": {
            "scaleTargetRef": {"name": "d"},
            "triggers": [{"type": "kafka", "metadata": metadata}],
        },
    }


KAFKA_LAG = {"bootstrapServers": "k:9093", "consumerGroup": "g", "topic": "t"}


@pytest.mark.parametrize(
    ("valid", "invalid"),
    [
        # A misspelt field.
        (_topic(partitions=6), _topic(partition=6)),
        # Gone in Strimzi v1: the singular ACL operation, the Kafka's own resources.
        (
            {"resource": {"type": "topic", "name": "t"}, "operations": ["Write"]},
            {"resource": {"type": "topic", "name": "t"}, "operation": "Write"},
        ),
        # A prefix path must be absolute; a Service backend needs its port.
        (
            _route(
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/ob"}}],
                    "backendRefs": [{"name": "b", "port": 80}],
                }
            ),
            _route(
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "ob"}}],
                    "backendRefs": [{"name": "b", "port": 80}],
                }
            ),
        ),
        (
            _route({"backendRefs": [{"name": "b", "port": 80}]}),
            _route({"backendRefs": [{"name": "b"}]}),
        ),
        # A redirect answers by itself: no backend beside it.
        (
            _route(
                {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}]}
            ),
            _route(
                {
                    "filters": [
                        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}
                    ],
                    "backendRefs": [{"name": "b", "port": 80}],
                }
            ),
        ),
        # KEDA reads the Kafka trigger's metadata only when scaling: a typo fails here.
        (
            _scaled_object({**KAFKA_LAG, "lagThreshold": "1000"}),
            _scaled_object({**KAFKA_LAG, "lagTreshold": "1000"}),
        ),
    ],
)
def test_custom_resource_schemas_refuse_what_the_api_refuses(
    valid: Manifest, invalid: Manifest
) -> None:
    # The structural schemas would be worthless if they let anything through.
    schema = _schema_for(valid)
    assert jsonschema.Draft202012Validator(schema).is_valid(valid)
    assert not jsonschema.Draft202012Validator(schema).is_valid(invalid)


def test_the_v1_kafka_has_no_resources_of_its_own() -> None:
    kafka = {
        "apiVersion": STRIMZI,
        "kind": "Kafka",
        "metadata": {"name": "k"},
        "spec": {
            "kafka": {
                "listeners": [{"name": "plain", "port": 9092, "type": "internal", "tls": False}],
                "resources": {"limits": {"memory": "2Gi"}},
            }
        },
    }
    schema = CUSTOM_RESOURCE_SCHEMAS[(STRIMZI, "Kafka")]
    assert not jsonschema.Draft202012Validator(schema).is_valid(kafka)


def test_kubernetes_schemas_refuse_a_misspelt_field() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetport": 8080}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSIONS[0], strict=True)


def _schema_for(example: Manifest) -> Schema:
    if "apiVersion" in example:
        return CUSTOM_RESOURCE_SCHEMAS[_custom_resource_key(example)]
    # A bare ACL rule: the KafkaUser's.
    user = CUSTOM_RESOURCE_SCHEMAS[(STRIMZI, "KafkaUser")]
    acls: Schema = user["properties"]["spec"]["properties"]["authorization"]["properties"]["acls"]
    rule: Schema = acls["items"]
    return rule


def _custom_resource_key(manifest: Manifest) -> tuple[str, str]:
    return manifest["apiVersion"], manifest["kind"]


def _name(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"
