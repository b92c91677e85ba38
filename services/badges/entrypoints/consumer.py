"""The badges consumer: `python -m services.badges.entrypoints.consumer` (group
`cercle-badges`).

Reads `cercle.events.v1` (badge criteria over events, `share.deleted` reversals),
`cercle.points.v1` (points milestones and periodic badges) and `cercle.employees.v1`
(teams for team challenges; a tombstone erases the employee's badges). A batch is
grouped per employee, and every employee's state of the batch is written in one bulk
write (see `BadgeService.apply_batch`); the store reads where every state is when the
consumer is given partitions, so that the batches read nothing that is not there."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from cercle_common.envelope import ACTION_TYPES, decode_json_object, parse_published
from cercle_common.errors import InfrastructureError, ValidationError
from cercle_common.messaging import ConsumerLoop, Record, Rejection, is_infrastructure_failure
from cercle_common.mongo import create_indexes, ping
from cercle_common.settings import Settings
from cercle_common.topics import EMPLOYEES, EVENTS, POINTS
from services.badges.bootstrap import Components, build
from services.badges.domain.facts import ActionFact, PointsFact, parse_points_entry
from services.badges.entrypoints.indexes import INDEXES
from services.badges.handlers import BadgeService

log = logging.getLogger(__name__)

GROUP = "cercle-badges"
TOPICS = (EVENTS, POINTS, EMPLOYEES)
# Employees' states kept in memory by the consumer, which is almost always their only
# writer (it remembers where every state is, whatever this size). On FerretDB even a read
# by `_id` that finds costs more as the collection grows: keep them all.
STATE_CACHE_SIZE = 20_000
Fact = ActionFact | PointsFact


def decode_event(record: Record) -> ActionFact | None:
    """An event of `cercle.events.v1` as a fact, or None for types badges ignore."""
    envelope, sequence = parse_published(record.value)
    if envelope.type not in ACTION_TYPES:
        return None
    return ActionFact(
        id=envelope.id,
        type=envelope.type,
        employee_id=envelope.employee_id,
        occurred_at=envelope.occurred_at,
        sequence=sequence,
        data=envelope.data,
    )


def decode_points(record: Record) -> PointsFact:
    """A ledger entry of `cercle.points.v1` as a fact."""
    if record.value is None:
        raise ValidationError("a ledger message needs a value")
    return parse_points_entry(decode_json_object(record.value))


class BadgesHandler:
    """The consumer's batch handler: decode, group per employee, apply, and refuse (for
    the dead-letter topic) what is bad data; an outage is raised for the loop to retry."""

    def __init__(self, service: BadgeService) -> None:
        self._service = service
        self._reload = True  # where the states are is read before the first batch

    def partitions_assigned(self, partitions: set[Any]) -> None:
        """Rebalance hook: the states of partitions now ours may have been written by
        another consumer meanwhile, so where they are is read anew before the next batch
        (there, so that an outage is retried)."""
        self._reload = True

    def __call__(self, records: Sequence[Record]) -> list[Rejection]:
        if self._reload:
            self._service.states.refresh()
            self._reload = False
        rejected: list[Rejection] = []
        pending: dict[str, list[tuple[Record, Fact]]] = {}
        for record in records:
            try:
                if record.topic == EMPLOYEES:
                    employee_id = self._employee_key(record)
                    # A directory change lands after the facts that came before it.
                    rejected += self._apply({employee_id: pending.pop(employee_id, [])})
                    self._apply_directory(employee_id, record)
                    continue
                fact = decode_event(record) if record.topic == EVENTS else decode_points(record)
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                rejected.append(Rejection(record, error))
                continue
            if fact is not None:
                pending.setdefault(fact.employee_id, []).append((record, fact))
        return rejected + self._apply(pending)

    def _apply(self, pending: dict[str, list[tuple[Record, Fact]]]) -> list[Rejection]:
        groups = {
            employee_id: [fact for _, fact in facts] for employee_id, facts in pending.items()
        }
        groups = {employee_id: facts for employee_id, facts in groups.items() if facts}
        if not groups:
            return []
        refused = self._service.apply_batch(groups)
        rejected = []
        for employee_id in refused:
            rejected += self._one_by_one(employee_id, pending[employee_id])
        return rejected

    def _one_by_one(self, employee_id: str, facts: list[tuple[Record, Fact]]) -> list[Rejection]:
        # Not an outage: some fact the core cannot take. Nothing of the group was written;
        # apply the facts one by one, in order, so that only the bad ones are refused and
        # their valid siblings still count.
        rejected = []
        for record, fact in facts:
            try:
                self._service.apply_facts(employee_id, [fact])
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                log.warning(
                    "badge fact refused",
                    extra={"employee_id": employee_id, "fact_id": fact.id, "error": str(error)},
                )
                rejected.append(Rejection(record, error))
        return rejected

    @staticmethod
    def _employee_key(record: Record) -> str:
        if record.key:
            return record.key.decode("utf-8")
        if record.value is None:
            raise ValidationError("a tombstone needs the employee id as key", "key")
        body = decode_json_object(record.value)
        employee_id = body.get("employee_id")
        if not isinstance(employee_id, str) or not employee_id:
            raise ValidationError("is required", "employee_id")
        return employee_id

    def _apply_directory(self, employee_id: str, record: Record) -> None:
        if record.value is None:
            self._service.erase(employee_id)
            return
        body: dict[str, Any] = decode_json_object(record.value)
        body.setdefault("employee_id", employee_id)
        if body["employee_id"] != employee_id:
            raise ValidationError("differs from the message key", "employee_id")
        self._service.directory.apply_snapshot(body)


def build_loop(settings: Settings, components: Components, group: str = GROUP) -> ConsumerLoop:
    """The consumer loop of the badges service (tests give their own group)."""
    handler = BadgesHandler(components.service)
    return ConsumerLoop(settings, group, TOPICS, handler, on_assign=handler.partitions_assigned)


def main(argv: list[str] | None = None) -> None:
    """Entrypoint: consume until SIGTERM, health on `HEALTH_PORT`."""
    import argparse

    from cercle_common.messaging import run_consumer

    parser = argparse.ArgumentParser(
        prog="python -m services.badges.entrypoints.consumer",
        description=(
            "Consume cercle.events.v1, cercle.points.v1 and cercle.employees.v1 into badge "
            "awards, published on cercle.badges.v1 (health on HEALTH_PORT); until SIGTERM."
        ),
    )
    parser.add_argument("--group", default=GROUP, help=f"consumer group (default {GROUP})")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    components = build(settings, state_cache_size=STATE_CACHE_SIZE)
    try:
        create_indexes(components.database, INDEXES)
    except InfrastructureError:
        log.warning("indexes not ensured: MongoDB unavailable; the loop retries its writes")
    loop = build_loop(settings, components, group=args.group)
    try:
        run_consumer(
            "badges-consumer",
            settings,
            loop,
            ready_checks={"mongo": lambda: ping(components.database)},
        )
    finally:
        components.close()


if __name__ == "__main__":
    main()
