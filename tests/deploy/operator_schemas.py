"""JSON schemas of the custom resources the kit declares, restricted to the fields it uses.

No package registry this project reaches ships these CRDs (Strimzi's `io.strimzi:api` jar
holds Java classes, not the CRD YAML), so they are written from the projects' published
definitions:

- Strimzi `kafka.strimzi.io/v1` (Strimzi 1.0 and later: `v1beta2` is gone). The v1 API
  drops `.spec.kafka.resources` (sizes are the node pools'), the `opa` / `keycloak`
  authorizations, `oauth` listener authentication and the singular ACL `operation`, and
  makes `.spec` required everywhere.
- MongoDB Controllers for Kubernetes (which replaced the community operator):
  `mongodbcommunity.mongodb.com/v1` `MongoDBCommunity`.
- Kubernetes Gateway API, standard channel: `gateway.networking.k8s.io/v1` `Gateway` and
  `HTTPRoute`, with the CEL rules of those fields written as JSON Schema conditions.
- KEDA `keda.sh/v1alpha1` `ScaledObject` and `TriggerAuthentication`; the `kafka`
  trigger's metadata keys as KEDA's Kafka scaler documents them (KEDA reads that map only
  when scaling, so a misspelt key would otherwise go unnoticed until then).

Unknown fields are refused wherever the CRD defines the object, so a misspelt field fails
here instead of being dropped by the API server."""

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
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}


def _closed(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
    }


LABEL_SELECTOR = _closed(
    {
        "matchLabels": STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": _closed(
                {
                    "key": {"type": "string"},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
                ("key", "operator"),
            ),
        },
    }
)


def _resource(api_version: str, kind: str, spec: Schema, labels_required: bool) -> Schema:
    metadata: Schema = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": NAME,
            "namespace": NAME,
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
        },
    }
    if labels_required:
        # The Strimzi operators find these resources through this label.
        metadata["required"] = ["name", "labels"]
        metadata["properties"]["labels"] = {**STRING_MAP, "required": ["strimzi.io/cluster"]}
    return _closed(
        {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": metadata,
            "spec": spec,
        },
        ("apiVersion", "kind", "metadata", "spec"),
    )


# --- Strimzi, kafka.strimzi.io/v1 -------------------------------------------------------

STRIMZI = "kafka.strimzi.io/v1"

_network_policy_peer = _closed(
    {
        "podSelector": LABEL_SELECTOR,
        "namespaceSelector": LABEL_SELECTOR,
        "ipBlock": _closed({"cidr": {"type": "string"}, "except": {"type": "array"}}, ("cidr",)),
    }
)
_listener = _closed(
    {
        "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
        "port": {"type": "integer", "minimum": 9092, "not": {"enum": [9404, 9999]}},
        "type": {
            "enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]
        },
        "tls": {"type": "boolean"},
        # v1: `oauth` is gone (`custom` replaces it).
        "authentication": _closed(
            {"type": {"enum": ["tls", "scram-sha-512", "custom"]}}, ("type",)
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
                    "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                    "metadataVersion": {"type": "string", "pattern": r"^\d+\.\d+(-IV\d+)?$"},
                    "listeners": {"type": "array", "minItems": 1, "items": _listener},
                    # v1: `opa` and `keycloak` are gone (`custom` replaces them).
                    "authorization": _closed(
                        {
                            "type": {"enum": ["simple", "custom"]},
                            "superUsers": {"type": "array", "items": {"type": "string"}},
                        },
                        ("type",),
                    ),
                    "config": CONFIG,
                    # No `resources` in v1: the node pools size their nodes.
                    "template": {"type": "object"},
                    "metricsConfig": {"type": "object"},
                    "rack": {"type": "object"},
                    "quotas": {"type": "object"},
                },
                ("listeners",),
            ),
            "entityOperator": _closed(
                {
                    "topicOperator": _closed(
                        {"resources": RESOURCES, "reconciliationIntervalMs": {"type": "integer"}}
                    ),
                    "userOperator": _closed(
                        {"resources": RESOURCES, "reconciliationIntervalMs": {"type": "integer"}}
                    ),
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
        # v1: the list is required, the singular `operation` is gone.
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
_secret_key_ref = _closed(
    {"name": {"type": "string"}, "key": {"type": "string"}, "optional": {"type": "boolean"}},
    ("name", "key"),
)
_user = _resource(
    STRIMZI,
    "KafkaUser",
    _closed(
        {
            "userName": {"type": "string"},
            "authentication": _closed(
                {
                    "type": {"enum": ["tls", "tls-external", "scram-sha-512"]},
                    "password": _closed(
                        {"valueFrom": _closed({"secretKeyRef": _secret_key_ref})},
                        ("valueFrom",),
                    ),
                },
                ("type",),
            ),
            "authorization": _closed(
                {"type": {"enum": ["simple"]}, "acls": {"type": "array", "items": _acl}},
                ("type", "acls"),
            ),
            "quotas": {"type": "object"},
            "template": _closed(
                {
                    "secret": _closed(
                        {"metadata": _closed({"labels": STRING_MAP, "annotations": STRING_MAP})}
                    )
                }
            ),
        }
    ),
    labels_required=True,
)

# --- MongoDB Controllers for Kubernetes, mongodbcommunity.mongodb.com/v1 ----------------

MONGODB_COMMUNITY = "mongodbcommunity.mongodb.com/v1"

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
    MONGODB_COMMUNITY,
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

# --- Gateway API, gateway.networking.k8s.io/v1 (standard channel) -----------------------

GATEWAY_API = "gateway.networking.k8s.io/v1"

_hostname = {
    "type": "string",
    "minLength": 1,
    "maxLength": 253,
    "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
}
_section_name = {**NAME, "minLength": 1, "maxLength": 253}
_object_name = {"type": "string", "minLength": 1, "maxLength": 253}
_group = {
    "type": "string",
    "maxLength": 253,
    "pattern": r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
}
_kind = {
    "type": "string",
    "minLength": 1,
    "maxLength": 63,
    "pattern": r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
}
_namespace = {
    "type": "string",
    "minLength": 1,
    "maxLength": 63,
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
}
_port_number = {"type": "integer", "minimum": 1, "maximum": 65535}
# GEP-2257 durations: 1h, 30s, 500ms, 1h30m...
_duration = {"type": "string", "pattern": r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"}

_gateway_listener = {
    **_closed(
        {
            "name": _section_name,
            "hostname": _hostname,
            "port": _port_number,
            "protocol": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                # A core protocol (HTTP, HTTPS, TLS, TCP, UDP) or a domain-prefixed one.
                "pattern": (
                    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
                    r"|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
                ),
            },
            "tls": _closed(
                {
                    "mode": {"enum": ["Terminate", "Passthrough"]},
                    "certificateRefs": {
                        "type": "array",
                        "maxItems": 64,
                        "items": _closed(
                            {
                                "group": _group,
                                "kind": _kind,
                                "name": _object_name,
                                "namespace": _namespace,
                            },
                            ("name",),
                        ),
                    },
                    "options": STRING_MAP,
                }
            ),
            "allowedRoutes": _closed(
                {
                    "namespaces": _closed(
                        {
                            "from": {"enum": ["All", "Selector", "Same"]},
                            "selector": LABEL_SELECTOR,
                        }
                    ),
                    "kinds": {
                        "type": "array",
                        "maxItems": 8,
                        "items": _closed({"group": _group, "kind": _kind}, ("kind",)),
                    },
                }
            ),
        },
        ("name", "port", "protocol"),
    ),
    # CEL: "tls must be specified for protocols ['HTTPS', 'TLS']".
    "if": {"properties": {"protocol": {"enum": ["HTTPS", "TLS"]}}},
    "then": {"required": ["tls"]},
}
_gateway = _resource(
    GATEWAY_API,
    "Gateway",
    _closed(
        {
            "gatewayClassName": _object_name,
            "listeners": {
                "type": "array",
                "minItems": 1,
                "maxItems": 64,
                "items": _gateway_listener,
            },
            "addresses": {"type": "array", "maxItems": 16},
            "infrastructure": _closed(
                {
                    "labels": STRING_MAP,
                    "annotations": STRING_MAP,
                    "parametersRef": {"type": "object"},
                }
            ),
        },
        ("gatewayClassName", "listeners"),
    ),
    labels_required=False,
)

_path_match = {
    **_closed(
        {
            "type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
            "value": {"type": "string", "maxLength": 1024},
        }
    ),
    # CEL: an Exact or PathPrefix value is an absolute path with no `//`.
    "if": {"properties": {"type": {"enum": ["Exact", "PathPrefix"]}}},
    "then": {"properties": {"value": {"pattern": r"^/", "not": {"pattern": "//"}}}},
}
_route_filter = _closed(
    {
        "type": {
            "enum": [
                "RequestHeaderModifier",
                "ResponseHeaderModifier",
                "RequestMirror",
                "RequestRedirect",
                "URLRewrite",
                "ExtensionRef",
                "CORS",
            ]
        },
        "requestRedirect": _closed(
            {
                "scheme": {"enum": ["http", "https"]},
                "hostname": _hostname,
                "path": {"type": "object"},
                "port": _port_number,
                # Core support: 301 and 302.
                "statusCode": {"enum": [301, 302]},
            }
        ),
        "requestHeaderModifier": {"type": "object"},
        "responseHeaderModifier": {"type": "object"},
        "urlRewrite": {"type": "object"},
    },
    ("type",),
)
_backend_ref = {
    **_closed(
        {
            "group": _group,
            "kind": _kind,
            "name": _object_name,
            "namespace": _namespace,
            "port": _port_number,
            "weight": {"type": "integer", "minimum": 0, "maximum": 1000000},
            "filters": {"type": "array", "maxItems": 16, "items": _route_filter},
        },
        ("name",),
    ),
    # CEL: "Must have port for Service reference" (a Service is the default kind).
    "if": {
        "properties": {"group": {"const": ""}, "kind": {"const": "Service"}},
    },
    "then": {"required": ["port"]},
}
_route_rule = {
    **_closed(
        {
            "name": _section_name,
            "matches": {
                "type": "array",
                "maxItems": 64,
                "items": _closed(
                    {
                        "path": _path_match,
                        "headers": {"type": "array", "maxItems": 16},
                        "queryParams": {"type": "array", "maxItems": 16},
                        "method": {
                            "enum": [
                                "GET",
                                "HEAD",
                                "POST",
                                "PUT",
                                "DELETE",
                                "CONNECT",
                                "OPTIONS",
                                "TRACE",
                                "PATCH",
                            ]
                        },
                    }
                ),
            },
            "filters": {"type": "array", "maxItems": 16, "items": _route_filter},
            "backendRefs": {"type": "array", "maxItems": 16, "items": _backend_ref},
            "timeouts": _closed({"request": _duration, "backendRequest": _duration}),
        }
    ),
    # CEL: "RequestRedirect filter must not be used together with backendRefs".
    "if": {"required": ["backendRefs"], "properties": {"backendRefs": {"minItems": 1}}},
    "then": {
        "properties": {
            "filters": {"items": {"not": {"properties": {"type": {"const": "RequestRedirect"}}}}}
        }
    },
}
_http_route = _resource(
    GATEWAY_API,
    "HTTPRoute",
    _closed(
        {
            "parentRefs": {
                "type": "array",
                "maxItems": 32,
                "items": _closed(
                    {
                        "group": _group,
                        "kind": _kind,
                        "namespace": _namespace,
                        "name": _object_name,
                        "sectionName": _section_name,
                        "port": _port_number,
                    },
                    ("name",),
                ),
            },
            "hostnames": {"type": "array", "maxItems": 16, "items": _hostname},
            "rules": {"type": "array", "minItems": 1, "maxItems": 16, "items": _route_rule},
        }
    ),
    labels_required=False,
)

# --- KEDA, keda.sh/v1alpha1 --------------------------------------------------------------

KEDA = "keda.sh/v1alpha1"

# The `kafka` trigger's metadata, as KEDA's Apache Kafka scaler documents it (values are
# strings: the trigger metadata is a map of strings).
KAFKA_TRIGGER_METADATA = _closed(
    {
        key: {"type": "string"}
        for key in (
            "bootstrapServers",
            "consumerGroup",
            "topic",
            "lagThreshold",
            "activationLagThreshold",
            "offsetResetPolicy",
            "allowIdleConsumers",
            "scaleToZeroOnInvalidOffset",
            "excludePersistentLag",
            "limitToPartitionsWithLag",
            "ensureEvenDistributionOfPartitions",
            "version",
            "partitionLimitation",
            "sasl",
            "saslTokenProvider",
            "tls",
            "unsafeSsl",
            "awsRegion",
        )
    },
    ("bootstrapServers", "consumerGroup"),
)
KAFKA_TRIGGER_METADATA["properties"].update(
    {
        "offsetResetPolicy": {"enum": ["latest", "earliest"]},
        "sasl": {
            "enum": ["plaintext", "scram_sha256", "scram_sha512", "gssapi", "oauthbearer", "none"]
        },
        "tls": {"enum": ["enable", "disable"]},
        "lagThreshold": {"type": "string", "pattern": r"^[0-9]+$"},
        "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+(\.\d+)?$"},
    }
)
_hpa_rules = _closed(
    {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": {"type": "array"},
    }
)
_trigger = {
    **_closed(
        {
            "type": {"type": "string"},
            "name": {"type": "string"},
            "metadata": STRING_MAP,
            "useCachedMetrics": {"type": "boolean"},
            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
            "authenticationRef": _closed(
                {
                    "name": {"type": "string"},
                    "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
                },
                ("name",),
            ),
        },
        ("type", "metadata"),
    ),
    "if": {"properties": {"type": {"const": "kafka"}}},
    "then": {"properties": {"metadata": KAFKA_TRIGGER_METADATA}},
}
_scaled_object = _resource(
    KEDA,
    "ScaledObject",
    _closed(
        {
            "scaleTargetRef": _closed(
                {
                    "name": {"type": "string"},
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "envSourceContainerName": {"type": "string"},
                },
                ("name",),
            ),
            "pollingInterval": INT32,
            "initialCooldownPeriod": INT32,
            "cooldownPeriod": INT32,
            "idleReplicaCount": INT32,
            "minReplicaCount": INT32,
            "maxReplicaCount": INT32,
            "advanced": _closed(
                {
                    "horizontalPodAutoscalerConfig": _closed(
                        {
                            "name": {"type": "string"},
                            "behavior": _closed({"scaleUp": _hpa_rules, "scaleDown": _hpa_rules}),
                        }
                    ),
                    "restoreToOriginalReplicaCount": {"type": "boolean"},
                    "scalingModifiers": {"type": "object"},
                }
            ),
            "triggers": {"type": "array", "items": _trigger},
            "fallback": _closed(
                {
                    "failureThreshold": INT32,
                    "replicas": INT32,
                    "behavior": {
                        "enum": [
                            "static",
                            "currentReplicas",
                            "currentReplicasIfHigher",
                            "currentReplicasIfLower",
                        ]
                    },
                },
                ("failureThreshold", "replicas"),
            ),
        },
        ("scaleTargetRef", "triggers"),
    ),
    labels_required=False,
)
_auth_ref = _closed(
    {"parameter": {"type": "string"}, "name": {"type": "string"}, "key": {"type": "string"}},
    ("parameter", "name", "key"),
)
_trigger_authentication = _resource(
    KEDA,
    "TriggerAuthentication",
    _closed(
        {
            "secretTargetRef": {"type": "array", "items": _auth_ref},
            "configMapTargetRef": {"type": "array", "items": _auth_ref},
            "env": {
                "type": "array",
                "items": _closed(
                    {
                        "parameter": {"type": "string"},
                        "name": {"type": "string"},
                        "containerName": {"type": "string"},
                    },
                    ("parameter", "name"),
                ),
            },
            "podIdentity": {"type": "object"},
            "hashiCorpVault": {"type": "object"},
            "azureKeyVault": {"type": "object"},
            "gcpSecretManager": {"type": "object"},
            "awsSecretManager": {"type": "object"},
            "boundServiceAccountToken": {"type": "array"},
        }
    ),
    labels_required=False,
)

CUSTOM_RESOURCE_SCHEMAS: dict[tuple[str, str], Schema] = {
    (STRIMZI, "Kafka"): _kafka,
    (STRIMZI, "KafkaNodePool"): _node_pool,
    (STRIMZI, "KafkaTopic"): _topic,
    (STRIMZI, "KafkaUser"): _user,
    (MONGODB_COMMUNITY, "MongoDBCommunity"): _mongo,
    (GATEWAY_API, "Gateway"): _gateway,
    (GATEWAY_API, "HTTPRoute"): _http_route,
    (KEDA, "ScaledObject"): _scaled_object,
    (KEDA, "TriggerAuthentication"): _trigger_authentication,
}
