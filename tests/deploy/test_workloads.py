"""How the workloads run: locked down, sized, probed, scaled, shut down gracefully."""

from __future__ import annotations

from urllib.parse import urlsplit

from cercle_common.topics import TOPICS
from services.badges.entrypoints.consumer import GROUP as BADGES_GROUP
from services.events.entrypoints.consumer import GROUP as EVENTS_GROUP
from services.points.entrypoints.consumer import GROUP as POINTS_GROUP
from tests.deploy.kit import (
    Manifest,
    Workload,
    cercle_workloads,
    config_map,
    find,
    iter_containers,
    label_selector_matches,
    one,
    workloads,
)
from tests.deploy.test_kafka_resources import KEDA_USER, READS

PARTITIONS = {t.name: t.partitions for t in TOPICS}
# The consumer group each consumer joins (its module's GROUP).
CONSUMER_GROUPS = {"events": EVENTS_GROUP, "points": POINTS_GROUP, "badges": BADGES_GROUP}


def test_every_container_runs_locked_down(manifests: list[Manifest]) -> None:
    for workload, container in iter_containers(manifests):
        pod = workload.pod_spec.get("securityContext", {})
        security = container.get("securityContext", {})
        where = f"{workload.name}/{container['name']}"
        assert security.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
        assert security.get("runAsUser", pod.get("runAsUser", 0)) != 0, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        assert workload.pod_spec["automountServiceAccountToken"] is False, where


def test_every_container_has_requests_and_limits(manifests: list[Manifest]) -> None:
    for workload, container in iter_containers(manifests):
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) == {"cpu", "memory"}, workload.name


def test_every_long_running_process_is_probed(manifests: list[Manifest]) -> None:
    health_port = int(config_map(manifests, "cercle-config")["HEALTH_PORT"])
    for workload in cercle_workloads(manifests):
        if workload.kind != "Deployment":
            continue
        app = workload.app
        assert app["livenessProbe"]["httpGet"]["path"] == "/healthz", workload.name
        assert app["readinessProbe"]["httpGet"]["path"] == "/readyz", workload.name
        port = _port_number(app, app["livenessProbe"]["httpGet"]["port"])
        assert port == (8080 if workload.is_api else health_port), workload.name


def test_apis_drain_before_the_grace_period_ends(manifests: list[Manifest]) -> None:
    for workload in cercle_workloads(manifests):
        if not workload.is_api:
            continue
        options = dict(a.removeprefix("--").split("=", 1) for a in workload.command if "=" in a)
        pause = workload.app["lifecycle"]["preStop"]["sleep"]["seconds"]
        grace = workload.pod_spec["terminationGracePeriodSeconds"]
        assert pause + int(options["graceful-timeout"]) < grace, workload.name


def test_consumers_have_time_to_commit_and_leave_their_group(manifests: list[Manifest]) -> None:
    for workload in cercle_workloads(manifests):
        if workload.command[:2] == ["python", "-m"] and workload.kind == "Deployment":
            # A batch (500 records) and the commit, with margin: the loop stops after it.
            assert workload.pod_spec["terminationGracePeriodSeconds"] >= 30, workload.name


def test_apis_are_autoscaled_on_cpu_and_consumers_on_their_lag(
    manifests: list[Manifest],
) -> None:
    autoscalers = _targets(manifests, "HorizontalPodAutoscaler")
    scaled = _targets(manifests, "ScaledObject")
    assert not set(autoscalers) & set(scaled), "two autoscalers fight over one Deployment"
    for workload in cercle_workloads(manifests):
        if workload.is_api:
            assert workload.name in autoscalers, workload.name
            assert "replicas" not in workload.manifest["spec"], "the autoscaler owns it"
        elif workload.name.endswith("-consumer"):
            assert workload.name in scaled, workload.name
            assert "replicas" not in workload.manifest["spec"], "KEDA owns it"
    for autoscaler in autoscalers.values():
        assert autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


def test_each_consumer_is_scaled_on_the_lag_of_every_topic_it_reads(
    manifests: list[Manifest],
) -> None:
    (listener,) = [
        x for x in one(manifests, "Kafka", "cercle")["spec"]["kafka"]["listeners"] if x["tls"]
    ]
    namespace = one(manifests, "Deployment", "events-consumer")["metadata"]["namespace"]
    bootstrap = f"cercle-kafka-bootstrap.{namespace}.svc:{listener['port']}"
    for name, scaled in _targets(manifests, "ScaledObject").items():
        service = name.split("-")[0]
        triggers = scaled["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}, name
        assert {t["metadata"]["topic"] for t in triggers} == READS[f"cercle-{service}"], name
        for trigger in triggers:
            metadata = trigger["metadata"]
            # The group the consumer joins, measured from KEDA's namespace over TLS.
            assert metadata["consumerGroup"] == CONSUMER_GROUPS[service], name
            assert metadata["bootstrapServers"] == bootstrap, name
            assert (metadata["sasl"], metadata["tls"]) == ("scram_sha512", "enable"), name
            # A new group starts from the beginning, as the consumers do (messaging.py).
            assert metadata["offsetResetPolicy"] == "earliest", name
            assert metadata.get("allowIdleConsumers", "false") == "false", name
            assert trigger["authenticationRef"] == {"name": "cercle-kafka-lag"}, name
        # More consumers than partitions would sit idle in the group.
        limit = min(PARTITIONS[t["metadata"]["topic"]] for t in triggers)
        spec = scaled["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= limit, name


def test_keda_logs_in_as_its_own_kafka_user(manifests: list[Manifest]) -> None:
    (auth,) = find(manifests, "TriggerAuthentication")
    params = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    params |= {r["parameter"]: r for r in auth["spec"]["configMapTargetRef"]}
    (username_map,) = [
        c
        for c in find(manifests, "ConfigMap")
        if c["metadata"]["name"] == params["username"]["name"]
    ]
    username = username_map["data"][params["username"]["key"]]
    assert username == KEDA_USER
    # The Secrets Strimzi writes: the user's password and the cluster CA.
    assert (params["password"]["name"], params["password"]["key"]) == (KEDA_USER, "password")
    assert (params["ca"]["name"], params["ca"]["key"]) == ("cercle-cluster-ca-cert", "ca.crt")


def test_every_deployment_has_a_disruption_budget(manifests: list[Manifest]) -> None:
    budgets = find(manifests, "PodDisruptionBudget")
    for workload in workloads(manifests):
        if workload.kind != "Deployment":
            continue
        covering = [
            b for b in budgets if label_selector_matches(b["spec"]["selector"], workload.labels)
        ]
        assert len(covering) == 1, workload.name


def test_each_service_selects_exactly_its_deployment_pods(manifests: list[Manifest]) -> None:
    for service in find(manifests, "Service"):
        selected = [
            w
            for w in workloads(manifests)
            if label_selector_matches({"matchLabels": service["spec"]["selector"]}, w.labels)
        ]
        assert [w.name for w in selected] == [service["metadata"]["name"]]
        (workload,) = selected
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert any(_port_number(c, target) for c in workload.containers), service


def test_the_public_route_sends_graphql_to_the_gateway_and_ob_to_badges(
    manifests: list[Manifest],
) -> None:
    (route,) = [r for r in find(manifests, "HTTPRoute") if _backends(r)]
    routes = {
        match["path"]["value"]: backend["name"]
        for rule in route["spec"]["rules"]
        for match in rule["matches"]
        for backend in rule["backendRefs"]
    }
    assert routes == {"/graphql": "gateway", "/ob": "badges-api"}
    for rule in route["spec"]["rules"]:
        for backend in rule["backendRefs"]:
            service = one(manifests, "Service", backend["name"])
            assert backend["port"] in {p["port"] for p in service["spec"]["ports"]}


def test_routes_attach_to_the_kit_s_gateway_listeners(manifests: list[Manifest]) -> None:
    (gateway,) = find(manifests, "Gateway")
    listeners = {x["name"]: x for x in gateway["spec"]["listeners"]}
    for route in find(manifests, "HTTPRoute"):
        for parent in route["spec"]["parentRefs"]:
            assert parent["name"] == gateway["metadata"]["name"]
            listener = listeners[parent["sectionName"]]
            assert listener["allowedRoutes"]["namespaces"]["from"] == "Same"
            assert route["spec"]["hostnames"] == [listener["hostname"]]


def test_the_public_base_url_is_what_the_gateway_serves(manifests: list[Manifest]) -> None:
    url = urlsplit(config_map(manifests, "cercle-config")["PUBLIC_BASE_URL"])
    (gateway,) = find(manifests, "Gateway")
    (route,) = [r for r in find(manifests, "HTTPRoute") if _backends(r)]
    assert route["spec"]["hostnames"] == [url.hostname]
    (listener,) = [
        x
        for x in gateway["spec"]["listeners"]
        if x["name"] == route["spec"]["parentRefs"][0]["sectionName"]
    ]
    # Open Badges assertions carry PUBLIC_BASE_URL: its scheme is the listener's.
    assert listener["protocol"] == url.scheme.upper()
    if url.scheme == "https":
        assert listener["tls"]["certificateRefs"] == [{"name": "cercle-tls"}]
        # Plain HTTP on that host answers only with a redirect to HTTPS.
        redirects = [r for r in find(manifests, "HTTPRoute") if not _backends(r)]
        assert [r["spec"]["hostnames"] for r in redirects] == [[url.hostname]]
        (rule,) = redirects[0]["spec"]["rules"]
        assert rule["filters"] == [
            {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
        ]


def test_scheduled_work_never_overlaps(manifests: list[Manifest]) -> None:
    for cron in find(manifests, "CronJob"):
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert cron["spec"]["timeZone"] == config_map(manifests, "cercle-config")["ORG_TIMEZONE"]


def test_data_stores_keep_their_data_on_persistent_volumes(manifests: list[Manifest]) -> None:
    (mongo,) = find(manifests, "MongoDBCommunity")
    claims = {
        c["metadata"]["name"] for c in mongo["spec"]["statefulSet"]["spec"]["volumeClaimTemplates"]
    }
    assert "data-volume" in claims
    (pool,) = find(manifests, "KafkaNodePool")
    assert {v["type"] for v in pool["spec"]["storage"]["volumes"]} == {"persistent-claim"}
    redis = Workload(one(manifests, "StatefulSet", "cercle-redis"))
    assert [c["metadata"]["name"] for c in redis.manifest["spec"]["volumeClaimTemplates"]] == [
        "data"
    ]


def test_prod_replicates_kafka_and_mongo_three_ways() -> None:
    from tests.deploy.kit import render

    prod = render("prod")
    (pool,) = find(prod, "KafkaNodePool")
    (mongo,) = find(prod, "MongoDBCommunity")
    assert pool["spec"]["replicas"] == 3
    assert mongo["spec"]["members"] == 3
    assert {t["spec"]["replicas"] for t in find(prod, "KafkaTopic")} == {3}
    assert all(v["deleteClaim"] is False for v in pool["spec"]["storage"]["volumes"])


def test_the_redis_protocol_store_is_a_patched_valkey_within_its_memory_limit(
    manifests: list[Manifest],
) -> None:
    redis = Workload(one(manifests, "StatefulSet", "cercle-redis"))
    (server,) = redis.containers
    name, _, tag = server["image"].rpartition(":")
    assert name == "valkey/valkey"
    # 8.1.4 is the first 8.1 with the fixes for CVE-2025-49844 and the other Lua flaws.
    assert tuple(int(n) for n in tag.split(".")) >= (8, 1, 4)
    options = dict(zip(server["args"][::2], server["args"][1::2], strict=True))
    assert options["--maxmemory-policy"] == "noeviction"
    # A snapshot forks the server: room for the pages copied meanwhile, buffers, overhead.
    maxmemory = _bytes(options["--maxmemory"])
    limit = _bytes(server["resources"]["limits"]["memory"])
    assert maxmemory <= 0.75 * limit
    assert _bytes(server["resources"]["requests"]["memory"]) == limit


def test_mongo_runs_a_release_with_the_fix_for_mongobleed(manifests: list[Manifest]) -> None:
    (mongo,) = find(manifests, "MongoDBCommunity")
    version = tuple(int(n) for n in mongo["spec"]["version"].split("."))
    # CVE-2025-14847 (zlib-compressed messages leak memory) is fixed from 8.0.17.
    assert version >= (8, 0, 17)


def _targets(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {a["spec"]["scaleTargetRef"]["name"]: a for a in find(manifests, kind)}


def _backends(route: Manifest) -> list[Manifest]:
    return [b for rule in route["spec"]["rules"] for b in rule.get("backendRefs", [])]


UNITS = {"": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
UNITS |= {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def _bytes(quantity: str) -> int:
    """A memory size in Kubernetes (`1Gi`) or Valkey (`640mb`) notation, in bytes."""
    number = quantity.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    unit = quantity[len(number) :]
    return int(number) * UNITS[unit]


def _port_number(container: Manifest, port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            number: int = declared["containerPort"]
            return number
    return None
