from cercle_common.identifiers import new_ulid


def test_ulids_sort_by_time_and_have_26_characters() -> None:
    earlier = new_ulid(at_ms=1_700_000_000_000, randomness=b"\xff" * 10)
    later = new_ulid(at_ms=1_700_000_000_001, randomness=b"\x00" * 10)
    assert len(earlier) == len(later) == 26
    assert earlier < later


def test_known_value_encodes_as_crockford_base32() -> None:
    assert new_ulid(at_ms=0, randomness=b"\x00" * 9 + b"\x01") == "0" * 25 + "1"
