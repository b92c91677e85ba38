"""The Strimzi resources agree with the code: one KafkaTopic per entry of the one topic
list, users that may touch only their own topics, a cluster that can hold the replicas."""

from __future__ import annotations

from cercle_common.topics import DEADLETTER, TOPICS
from tests.deploy.kit import Manifest, find

# Which topics each service consumes and produces (docs/messages.md, DESIGN.md).
READS = {
    "cercle-events": {"cercle.inbound.v1"},
    "cercle-points": {"cercle.events.v1", "cercle.employees.v1"},
    "cercle-badges": {"cercle.events.v1", "cercle.points.v1", "cercle.employees.v1"},
}
WRITES = {
    "cercle-events": {"cercle.events.v1", "cercle.employees.v1", DEADLETTER},
    "cercle-points": {"cercle.points.v1", DEADLETTER},
    "cercle-badges": {"cercle.badges.v1", DEADLETTER},
}


def test_kafka_topics_are_the_code_topic_list(manifests: list[Manifest]) -> None:
    declared = {
        t["spec"]["topicName"]: (t["spec"]["partitions"], _policy(t["spec"]["config"]))
        for t in find(manifests, "KafkaTopic")
    }
    expected = {t.name: (t.partitions, t.config()) for t in TOPICS}
    assert declared == expected


def test_topics_belong_to_the_cluster_and_fit_its_nodes(manifests: list[Manifest]) -> None:
    (kafka,) = find(manifests, "Kafka")
    (pool,) = find(manifests, "KafkaNodePool")
    cluster = kafka["metadata"]["name"]
    brokers = pool["spec"]["replicas"]
    for topic in find(manifests, "KafkaTopic"):
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        replicas = topic["spec"]["replicas"]
        min_insync = int(topic["spec"]["config"]["min.insync.replicas"])
        assert replicas <= brokers
        # One broker down must not stop the producers (acks=all).
        assert min_insync < replicas or replicas == 1


def test_the_cluster_runs_kraft_node_pools_without_auto_created_topics(
    manifests: list[Manifest],
) -> None:
    (kafka,) = find(manifests, "Kafka")
    (pool,) = find(manifests, "KafkaNodePool")
    annotations = kafka["metadata"]["annotations"]
    assert annotations["strimzi.io/kraft"] == "enabled"
    assert annotations["strimzi.io/node-pools"] == "enabled"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["offsets.topic.replication.factor"] <= pool["spec"]["replicas"]
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"


def test_each_service_reads_and_writes_only_its_own_topics(manifests: list[Manifest]) -> None:
    users = {u["metadata"]["name"]: u for u in find(manifests, "KafkaUser")}
    assert set(users) == set(READS)
    for name, user in users.items():
        acls = user["spec"]["authorization"]["acls"]
        reads = _topics(acls, "Read")
        writes = _topics(acls, "Write")
        assert reads == READS[name], name
        assert writes == WRITES[name], name
        for acl in acls:
            assert acl["resource"].get("patternType") in {"literal", "prefix"}
            assert "All" not in acl["operations"]
            if acl["resource"]["type"] == "topic":
                assert acl["resource"]["patternType"] == "literal", name


def test_each_service_joins_only_its_own_consumer_groups(manifests: list[Manifest]) -> None:
    for user in find(manifests, "KafkaUser"):
        groups = [
            a["resource"]
            for a in user["spec"]["authorization"]["acls"]
            if a["resource"]["type"] == "group"
        ]
        assert groups == [
            {"type": "group", "name": user["metadata"]["name"], "patternType": "prefix"}
        ]


def test_a_topic_one_service_writes_is_written_by_no_other(manifests: list[Manifest]) -> None:
    owners: dict[str, set[str]] = {}
    for user in find(manifests, "KafkaUser"):
        for topic in _topics(user["spec"]["authorization"]["acls"], "Write") - {DEADLETTER}:
            owners.setdefault(topic, set()).add(user["metadata"]["name"])
    assert all(len(names) == 1 for names in owners.values()), owners


def _topics(acls: list[Manifest], operation: str) -> set[str]:
    return {
        a["resource"]["name"]
        for a in acls
        if a["resource"]["type"] == "topic" and operation in a["operations"]
    }


def _policy(config: dict[str, str]) -> dict[str, str]:
    # What cercle_common.topics.Topic.config() sets; the rest is cluster sizing.
    return {k: str(v) for k, v in config.items() if k in {"cleanup.policy", "retention.ms"}}
