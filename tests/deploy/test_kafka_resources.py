"""The Strimzi resources agree with the code: one KafkaTopic per entry of the one topic
list, users that may touch only their own topics (each service, each internal tool, KEDA),
a cluster that can hold the replicas."""

from __future__ import annotations

from cercle_common.topics import DEADLETTER, TOPICS
from tests.deploy.kit import Manifest, find

INBOUND_PREFIX = "cercle.inbound."
# One inbound topic per internal tool (cercle.inbound.<tool>.v1), from the code's list.
INBOUND = {t.name for t in TOPICS if t.name.startswith(INBOUND_PREFIX)}
TOOLS = {topic.removeprefix(INBOUND_PREFIX).removesuffix(".v1"): topic for topic in INBOUND}

# Which topics each service consumes and produces (docs/messages.md, DESIGN.md).
READS = {
    "cercle-events": INBOUND,
    "cercle-points": {"cercle.events.v1", "cercle.employees.v1"},
    "cercle-badges": {"cercle.events.v1", "cercle.points.v1", "cercle.employees.v1"},
}
WRITES = {
    "cercle-events": {"cercle.events.v1", "cercle.employees.v1", DEADLETTER},
    "cercle-points": {"cercle.points.v1", DEADLETTER},
    "cercle-badges": {"cercle.badges.v1", DEADLETTER},
}
KEDA_USER = "cercle-keda"


def tool_user(tool: str) -> str:
    """The Kafka user of an internal tool."""
    return f"cercle-tool-{tool}"


def _users(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {u["metadata"]["name"]: u for u in find(manifests, "KafkaUser")}


def _acls(user: Manifest) -> list[Manifest]:
    acls: list[Manifest] = user["spec"]["authorization"]["acls"]
    return acls


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
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["offsets.topic.replication.factor"] <= pool["spec"]["replicas"]
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    # Strimzi 1.0 runs KRaft node pools only: the old opt-in annotations mean nothing.
    assert not set(kafka["metadata"].get("annotations", {})) & {
        "strimzi.io/kraft",
        "strimzi.io/node-pools",
    }


def test_the_metadata_version_is_the_kafka_version_s(manifests: list[Manifest]) -> None:
    (kafka,) = find(manifests, "Kafka")
    version = kafka["spec"]["kafka"]["version"]
    metadata = kafka["spec"]["kafka"]["metadataVersion"]
    assert metadata.split("-")[0] == ".".join(version.split(".")[:2])


def test_every_user_authenticates_with_scram_and_is_authorised_by_acls(
    manifests: list[Manifest],
) -> None:
    for name, user in _users(manifests).items():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}, name
        for acl in _acls(user):
            assert acl.get("type", "allow") == "allow", name
            assert acl["resource"].get("patternType") in {"literal", "prefix"}, name
            assert "All" not in acl["operations"], name


def test_the_users_are_the_services_the_tools_and_keda(manifests: list[Manifest]) -> None:
    expected = set(READS) | {tool_user(tool) for tool in TOOLS} | {KEDA_USER}
    assert set(_users(manifests)) == expected


def test_each_service_reads_and_writes_only_its_own_topics(manifests: list[Manifest]) -> None:
    users = _users(manifests)
    for name in READS:
        acls = _acls(users[name])
        assert _covered(acls, "Read") == READS[name], name
        assert _covered(acls, "Write") == WRITES[name], name
        for acl in acls:
            if acl["resource"]["type"] != "topic":
                continue
            # The one prefix: the events service reads every tool's inbound topic.
            if acl["resource"]["patternType"] == "prefix":
                assert (name, acl["resource"]["name"]) == ("cercle-events", INBOUND_PREFIX)
                assert set(acl["operations"]) == {"Describe", "Read"}


def test_each_service_joins_only_its_own_consumer_groups(manifests: list[Manifest]) -> None:
    users = _users(manifests)
    for name in READS:
        groups = [a for a in _acls(users[name]) if a["resource"]["type"] == "group"]
        assert [g["resource"] for g in groups] == [
            {"type": "group", "name": name, "patternType": "prefix"}
        ]
        assert set(groups[0]["operations"]) == {"Describe", "Read"}


def test_each_tool_may_write_its_own_inbound_topic_and_nothing_else(
    manifests: list[Manifest],
) -> None:
    users = _users(manifests)
    assert TOOLS, "the code's topic list has no inbound topic"
    for tool, topic in TOOLS.items():
        acls = _acls(users[tool_user(tool)])
        assert acls == [
            {
                "resource": {"type": "topic", "name": topic, "patternType": "literal"},
                "operations": ["Describe", "Write"],
            }
        ], tool


def test_keda_may_only_describe_the_topics_and_groups_it_measures(
    manifests: list[Manifest],
) -> None:
    acls = _acls(_users(manifests)[KEDA_USER])
    assert {a["resource"]["type"] for a in acls} == {"topic", "group"}
    assert all(a["operations"] == ["Describe"] for a in acls)
    topics = {t.name for t in TOPICS}
    assert _covered(acls, "Describe") == topics
    groups = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "group"}
    # Every group the ScaledObjects measure is within its reach.
    for scaled in find(manifests, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            group = trigger["metadata"]["consumerGroup"]
            assert any(group.startswith(prefix) for prefix in groups), group


def test_a_topic_one_user_writes_is_written_by_no_other(manifests: list[Manifest]) -> None:
    owners: dict[str, set[str]] = {}
    for name, user in _users(manifests).items():
        for topic in _covered(_acls(user), "Write") - {DEADLETTER}:
            owners.setdefault(topic, set()).add(name)
    assert all(len(names) == 1 for names in owners.values()), owners
    # Only the tools publish raw events, each to its own topic.
    assert {t: owners.get(t) for t in INBOUND} == {
        topic: {tool_user(tool)} for tool, topic in TOOLS.items()
    }


def test_each_user_s_password_lives_in_a_secret_of_its_own(manifests: list[Manifest]) -> None:
    # The user operator names the Secret after the user: rotating one touches no other.
    # Nothing else of the kit may declare (and so overwrite) such a Secret.
    rendered = {s["metadata"]["name"] for s in find(manifests, "Secret")}
    assert not rendered & set(_users(manifests))
    for name, user in _users(manifests).items():
        assert "password" not in user["spec"]["authentication"], name


def _covered(acls: list[Manifest], operation: str) -> set[str]:
    """The topics of the code's list an operation is allowed on (literal or prefix)."""
    covered = set()
    for acl in acls:
        resource = acl["resource"]
        if resource["type"] != "topic" or operation not in acl["operations"]:
            continue
        if resource["patternType"] == "prefix":
            covered |= {t.name for t in TOPICS if t.name.startswith(resource["name"])}
        else:
            covered.add(resource["name"])
    return covered


def _policy(config: dict[str, str]) -> dict[str, str]:
    # What cercle_common.topics.Topic.config() sets; the rest is cluster sizing.
    return {k: str(v) for k, v in config.items() if k in {"cleanup.policy", "retention.ms"}}
