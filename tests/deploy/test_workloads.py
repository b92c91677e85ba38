"""How the workloads run: locked down, sized, probed, scaled, shut down gracefully."""

from __future__ import annotations

from cercle_common.topics import TOPICS
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
from tests.deploy.test_kafka_resources import READS

PARTITIONS = {t.name: t.partitions for t in TOPICS}


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


def test_apis_are_autoscaled_and_consumers_up_to_their_partitions(
    manifests: list[Manifest],
) -> None:
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in find(manifests, "HorizontalPodAutoscaler")
    }
    for workload in cercle_workloads(manifests):
        if workload.is_api:
            assert workload.name in autoscalers, workload.name
            assert "replicas" not in workload.manifest["spec"], "the autoscaler owns it"
        elif workload.name.endswith("-consumer"):
            topics = READS[f"cercle-{workload.name.split('-')[0]}"]
            # More consumers than partitions would sit idle in the group.
            limit = min(PARTITIONS[t] for t in topics)
            assert autoscalers[workload.name]["spec"]["maxReplicas"] <= limit, workload.name
    for autoscaler in autoscalers.values():
        assert autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]


def test_relay_is_a_single_pod_even_during_a_rollout(manifests: list[Manifest]) -> None:
    relay = one(manifests, "Deployment", "events-relay")
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["strategy"] == {"type": "Recreate"}
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in find(manifests, "HorizontalPodAutoscaler")
    }
    assert "events-relay" not in targets


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


def test_ingress_routes_graphql_to_the_gateway_and_ob_to_badges(manifests: list[Manifest]) -> None:
    (ingress,) = find(manifests, "Ingress")
    routes = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert routes == {"/graphql": "gateway", "/ob/": "badges-api"}


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


def _port_number(container: Manifest, port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            number: int = declared["containerPort"]
            return number
    return None
