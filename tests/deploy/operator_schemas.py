"""JSON schemas of the operators' custom resources, restricted to the fields this kit uses.

Neither Strimzi's nor the MongoDB operator's CRDs ship in a package registry this project
reaches (Strimzi's `io.strimzi:api` jar holds Java classes, not the CRD YAML), so these are
written from their API references: Strimzi `kafka.strimzi.io/v1beta2` (0.45 to 0.49) and
`mongodbcommunity.mongodb.com/v1`. Unknown fields are refused wherever the CRD defines the
object, so a misspelt field fails here instead of being dropped by the API server."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

NAME = {
    "type": "string",
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
}
QUANTITY = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": QUANTITY},
        "limits": {"type": "object", "additionalProperties": QUANTITY},
    },
}
CONFIG = {
    "type": "object",
    "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
}


def _closed(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
    }


def _resource(api_version: str, kind: str, spec: Schema, labels_required: bool) -> Schema:
    metadata: Schema = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": NAME,
            "namespace": NAME,
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    if labels_required:
        # The operators find these resources through this label.
        metadata["required"] = ["name", "labels"]
        metadata["properties"]["labels"]["required"] = ["strimzi.io/cluster"]
    return _closed(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": metadata,
            "spec": spec,
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


STRIMZI = "kafka.strimzi.io/v1beta2"

_network_policy_peer = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "podSelector": {"type": "object"},
        "namespaceSelector": {"type": "object"},
        "ipBlock": {"type": "object"},
    },
}
_listener = _closed(
    {
        "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
        "port": {"type": "integer", "minimum": 9092},
        "type": {
            "enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]
        },
        "tls": {"type": "boolean"},
        "authentication": _closed(
            {"type": {"enum": ["tls", "scram-sha-512", "oauth", "custom"]}}, ("type",)
        ),
        "configuration": {"type": "object"},
        "networkPolicyPeers": {"type": "array", "items": _network_policy_peer},
    },
    ("name", "port", "type", "tls"),
)
_kafka = _resource(
    STRIMZI,
    "Kafka",
    _closed(
        {
            "kafka": _closed(
                {
                    "version": {"type": "string"},
                    "metadataVersion": {"type": "string"},
                    "listeners": {"type": "array", "minItems": 1, "items": _listener},
                    "authorization": _closed(
                        {
                            "type": {"enum": ["simple", "opa", "keycloak", "custom"]},
                            "superUsers": {"type": "array", "items": {"type": "string"}},
                        },
                        ("type",),
                    ),
                    "config": CONFIG,
                    "resources": RESOURCES,
                    "template": {"type": "object"},
                    "metricsConfig": {"type": "object"},
                    "rack": {"type": "object"},
                },
                ("listeners",),
            ),
            "entityOperator": _closed(
                {
                    "topicOperator": _closed({"resources": RESOURCES}),
                    "userOperator": _closed({"resources": RESOURCES}),
                    "template": {"type": "object"},
                }
            ),
            "cruiseControl": {"type": "object"},
            "kafkaExporter": {"type": "object"},
        },
        ("kafka",),
    ),
    labels_required=False,
)
_volume = _closed(
    {
        "id": {"type": "integer", "minimum": 0},
        "type": {"enum": ["persistent-claim", "ephemeral"]},
        "size": {"type": "string"},
        "class": {"type": "string"},
        "deleteClaim": {"type": "boolean"},
        "kraftMetadata": {"enum": ["shared"]},
    },
    ("type",),
)
_node_pool = _resource(
    STRIMZI,
    "KafkaNodePool",
    _closed(
        {
            "replicas": {"type": "integer", "minimum": 0},
            "roles": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": ["controller", "broker"]},
            },
            "storage": _closed(
                {"type": {"enum": ["jbod"]}, "volumes": {"type": "array", "items": _volume}},
                ("type", "volumes"),
            ),
            "resources": RESOURCES,
            "jvmOptions": {"type": "object"},
            "template": {"type": "object"},
        },
        ("replicas", "roles", "storage"),
    ),
    labels_required=True,
)
_topic = _resource(
    STRIMZI,
    "KafkaTopic",
    _closed(
        {
            "topicName": {"type": "string"},
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": CONFIG,
        }
    ),
    labels_required=True,
)
_acl = _closed(
    {
        "resource": _closed(
            {
                "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                "name": {"type": "string"},
                "patternType": {"enum": ["literal", "prefix"]},
            },
            ("type",),
        ),
        "type": {"enum": ["allow", "deny"]},
        "host": {"type": "string"},
        "operations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "enum": [
                    "Read",
                    "Write",
                    "Create",
                    "Delete",
                    "Alter",
                    "Describe",
                    "ClusterAction",
                    "AlterConfigs",
                    "DescribeConfigs",
                    "IdempotentWrite",
                    "All",
                ]
            },
        },
    },
    ("resource", "operations"),
)
_user = _resource(
    STRIMZI,
    "KafkaUser",
    _closed(
        {
            "authentication": _closed(
                {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}}, ("type",)
            ),
            "authorization": _closed(
                {"type": {"enum": ["simple"]}, "acls": {"type": "array", "items": _acl}},
                ("type", "acls"),
            ),
            "quotas": {"type": "object"},
            "template": {"type": "object"},
        }
    ),
    labels_required=True,
)

_mongo_role = _closed({"name": {"type": "string"}, "db": {"type": "string"}}, ("name", "db"))
_mongo_user = _closed(
    {
        "name": {"type": "string"},
        "db": {"type": "string"},
        "passwordSecretRef": _closed({"name": NAME, "key": {"type": "string"}}, ("name",)),
        "roles": {"type": "array", "minItems": 1, "items": _mongo_role},
        "scramCredentialsSecretName": NAME,
        "connectionStringSecretName": NAME,
        "additionalConnectionStringConfig": {"type": "object"},
    },
    ("name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"),
)
_mongo = _resource(
    "mongodbcommunity.mongodb.com/v1",
    "MongoDBCommunity",
    _closed(
        {
            "type": {"enum": ["ReplicaSet"]},
            "members": {"type": "integer", "minimum": 1},
            "arbiters": {"type": "integer", "minimum": 0},
            "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
            "featureCompatibilityVersion": {"type": "string"},
            "security": _closed(
                {
                    "authentication": _closed(
                        {
                            "modes": {
                                "type": "array",
                                "items": {
                                    "enum": ["SCRAM", "SCRAM-SHA-256", "SCRAM-SHA-1", "X509"]
                                },
                            },
                            "ignoreUnknownUsers": {"type": "boolean"},
                        },
                        ("modes",),
                    ),
                    "tls": {"type": "object"},
                    "roles": {"type": "array"},
                }
            ),
            "users": {"type": "array", "items": _mongo_user},
            "statefulSet": _closed(
                {"spec": {"type": "object"}, "metadata": {"type": "object"}}, ("spec",)
            ),
            "additionalMongodConfig": {"type": "object"},
            "prometheus": {"type": "object"},
        },
        ("type", "members", "version", "security", "users"),
    ),
    labels_required=False,
)

CUSTOM_RESOURCE_SCHEMAS: dict[tuple[str, str], Schema] = {
    (STRIMZI, "Kafka"): _kafka,
    (STRIMZI, "KafkaNodePool"): _node_pool,
    (STRIMZI, "KafkaTopic"): _topic,
    (STRIMZI, "KafkaUser"): _user,
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"): _mongo,
}
