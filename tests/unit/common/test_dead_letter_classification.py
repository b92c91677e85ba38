from pymongo.errors import AutoReconnect, DuplicateKeyError

from cercle_common.errors import InfrastructureError, ValidationError
from cercle_common.messaging import Record, describe, is_infrastructure_failure, per_record


def record(value: bytes) -> Record:
    return Record(topic="t", partition=0, offset=1, key=b"k", value=value)


def test_outages_are_retried_and_bad_data_is_not() -> None:
    assert is_infrastructure_failure(InfrastructureError("down"))
    assert is_infrastructure_failure(AutoReconnect("gone"))
    assert is_infrastructure_failure(ConnectionRefusedError())
    assert not is_infrastructure_failure(ValidationError("bad", "data.network"))
    assert not is_infrastructure_failure(DuplicateKeyError("dup"))
    assert not is_infrastructure_failure(KeyError("bug"))


def test_reason_names_the_field() -> None:
    assert describe(ValidationError("must be one of linkedin, x", "data.network")) == (
        "data.network: must be one of linkedin, x"
    )


def test_per_record_refuses_bad_records_and_applies_the_rest() -> None:
    applied: list[bytes] = []

    def handle(one: Record) -> None:
        if one.value == b"bad":
            raise ValidationError("nope", "id")
        applied.append(one.value or b"")

    rejected = per_record(handle)([record(b"a"), record(b"bad"), record(b"b")])
    assert applied == [b"a", b"b"]
    assert [r.record.value for r in rejected] == [b"bad"]


def test_per_record_lets_an_outage_through_for_the_loop_to_retry() -> None:
    def handle(one: Record) -> None:
        raise InfrastructureError("mongo down")

    try:
        per_record(handle)([record(b"a")])
    except InfrastructureError:
        return
    raise AssertionError("an outage must not be treated as bad data")
