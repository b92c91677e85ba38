"""Who may reach whom, evaluated from the NetworkPolicies as Kubernetes does: only the
gateway (and badges' public /ob/ paths) from outside, the service APIs from Cercle's own
pods, Kafka, MongoDB and Redis only from their clients."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.deploy.kit import Manifest, cercle_workloads, find, label_selector_matches, workloads

# Where the Gateway API implementation (Envoy Gateway) runs the proxies of routes.yaml.
GATEWAY_PROXIES = "envoy-gateway-system"
MONITORING = "monitoring"
KEDA = "keda"


@dataclass(frozen=True)
class Source:
    """Where traffic comes from: a pod of the kit's namespace, or any pod of a namespace."""

    labels: dict[str, str] | None = None
    namespace: str | None = None


def pod_labels(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """The labels of every pod the kit runs (MongoDB's from the operator's template)."""
    labels = {w.name: w.labels for w in workloads(manifests)}
    for mongo in find(manifests, "MongoDBCommunity"):
        template = mongo["spec"]["statefulSet"]["spec"]["template"]
        labels[mongo["metadata"]["name"]] = template["metadata"]["labels"]
    return labels


def allowed(manifests: list[Manifest], target: dict[str, str], source: Source, port: int) -> bool:
    """Whether the NetworkPolicies of the kit let `source` reach `port` of a pod."""
    policies = [
        p
        for p in find(manifests, "NetworkPolicy")
        if "Ingress" in p["spec"]["policyTypes"]
        and label_selector_matches(p["spec"]["podSelector"], target)
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            if "from" not in rule or any(_peer_matches(peer, source) for peer in rule["from"]):
                return True
    return False


def _peer_matches(peer: Manifest, source: Source) -> bool:
    if "namespaceSelector" in peer:
        if source.namespace is None:
            return False
        namespace = {"kubernetes.io/metadata.name": source.namespace}
        if not label_selector_matches(peer["namespaceSelector"], namespace):
            return False
        return "podSelector" not in peer
    if source.labels is None:
        return False
    return label_selector_matches(peer["podSelector"], source.labels)


def test_nothing_is_reachable_unless_a_policy_says_so(manifests: list[Manifest]) -> None:
    deny = [p for p in find(manifests, "NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert [p["spec"].get("ingress", []) for p in deny] == [[]]


@pytest.mark.parametrize(
    ("target", "reachable"),
    [
        ("gateway", True),
        ("badges-api", True),
        ("events-api", False),
        ("points-api", False),
        ("points-consumer", False),
        ("cercle-redis", False),
        ("cercle-mongo", False),
    ],
)
def test_from_outside_only_the_public_parts_answer(
    manifests: list[Manifest], target: str, reachable: bool
) -> None:
    labels = pod_labels(manifests)[target]
    outside = Source(namespace=GATEWAY_PROXIES)
    assert allowed(manifests, labels, outside, 8080) is reachable
    assert not allowed(manifests, labels, Source(namespace="somewhere-else"), 8080)


def test_service_apis_answer_the_gateway_and_each_other(manifests: list[Manifest]) -> None:
    labels = pod_labels(manifests)
    for caller in ("gateway", "events-api", "points-consumer", "badges-consumer"):
        for api in ("events-api", "points-api", "badges-api"):
            assert allowed(manifests, labels[api], Source(labels[caller]), 8080), (caller, api)
    stranger = Source({"app.kubernetes.io/name": "intruder"})
    assert not allowed(manifests, labels["events-api"], stranger, 8080)


@pytest.mark.parametrize(
    ("server", "port", "clients", "refused"),
    [
        (
            "cercle-mongo",
            27017,
            ["events-api", "events-consumer", "points-consumer", "badges-api", "cercle-indexes"],
            ["gateway"],
        ),
        ("cercle-redis", 6379, ["points-api", "points-consumer", "gateway"], ["events-api"]),
    ],
)
def test_data_stores_answer_only_their_clients(
    manifests: list[Manifest], server: str, port: int, clients: list[str], refused: list[str]
) -> None:
    labels = pod_labels(manifests)
    for client in clients:
        assert allowed(manifests, labels[server], Source(labels[client]), port), client
    for client in refused:
        assert not allowed(manifests, labels[server], Source(labels[client]), port), client


def _listener(manifests: list[Manifest], name: str) -> Manifest:
    (kafka,) = find(manifests, "Kafka")
    (listener,) = [x for x in kafka["spec"]["kafka"]["listeners"] if x["name"] == name]
    return listener


def test_kafka_answers_only_the_pods_of_services_with_a_kafka_user(
    manifests: list[Manifest],
) -> None:
    # Within the namespace: the `plain` listener, for pods labelled as Kafka clients.
    peers = _listener(manifests, "plain")["networkPolicyPeers"]
    assert all(set(p) == {"podSelector"} for p in peers)
    users = {u["metadata"]["name"] for u in find(manifests, "KafkaUser")}
    for workload in cercle_workloads(manifests):
        admitted = any(label_selector_matches(p["podSelector"], workload.labels) for p in peers)
        env = {e["name"]: e.get("value") for e in workload.app.get("env", [])}
        assert admitted == (env["KAFKA_SASL_USERNAME"] in users), workload.name


def test_kafka_answers_other_namespaces_only_over_tls(manifests: list[Manifest]) -> None:
    # The tools' namespaces (labelled by the admin) and KEDA's operator, nothing else.
    (kafka,) = find(manifests, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        for peer in listener["networkPolicyPeers"]:
            if "namespaceSelector" in peer:
                assert listener["tls"] is True, listener["name"]
    peers = _listener(manifests, "tls")["networkPolicyPeers"]
    tools_namespace = {"kubernetes.io/metadata.name": "lms", "cercle.io/kafka-tools": "true"}
    keda = {"kubernetes.io/metadata.name": KEDA}
    keda_operator = {"app.kubernetes.io/name": "keda-operator"}

    def admitted(namespace: dict[str, str], pod: dict[str, str]) -> bool:
        return any(
            label_selector_matches(p["namespaceSelector"], namespace)
            and label_selector_matches(p.get("podSelector", {}), pod)
            for p in peers
        )

    assert admitted(tools_namespace, {"app": "anything"})
    assert admitted(keda, keda_operator)
    assert not admitted(keda, {"app.kubernetes.io/name": "keda-admission-webhooks"})
    assert not admitted({"kubernetes.io/metadata.name": "somewhere-else"}, keda_operator)


def test_prometheus_may_scrape_every_cercle_process(manifests: list[Manifest]) -> None:
    scraper = Source(namespace=MONITORING)
    for workload in cercle_workloads(manifests):
        if workload.kind == "Deployment":
            port = int(workload.template["metadata"]["annotations"]["prometheus.io/port"])
            assert allowed(manifests, workload.labels, scraper, port), workload.name
