"""Which facts an employee's state has already applied, so that each is applied exactly
once whatever sequence it arrives with.

The events service numbers events in publish order (sequences grow with the partition
offset, with gaps), yet a sequence alone cannot tell a redelivery from a new fact: two
different events may share a sequence (old data, a counter that was not atomic), and one
id may come back under another sequence. So facts are recognised by id: the ids applied
most recently are remembered with their sequence, in the same write as the state. The
memory is bounded; when full, the ids with the lowest sequences are forgotten and
`forgotten_up_to` keeps the highest sequence forgotten: a fact at or below it is older
than everything remembered, which only a redelivery of an old fact can be."""

from __future__ import annotations

from dataclasses import dataclass, field

# A redelivery comes right behind the original: the consumer batch that was not committed
# (the loop polls at most 500 records) or the relay's republish of its last unacknowledged
# sends. 512 ids cover a whole redelivered batch of one employee, while the memory stays
# small (about 20 KB at worst, in a state written whole on every change).
RECENT_IDS = 512


@dataclass
class AppliedFacts:
    """The ids of the facts applied recently (id → sequence), and the watermark below
    which ids were forgotten."""

    recent: dict[str, int] = field(default_factory=dict)
    forgotten_up_to: int = -1
    limit: int = RECENT_IDS

    def seen(self, fact_id: str, sequence: int) -> bool:
        """True when the fact was applied already (or is older than the memory)."""
        return fact_id in self.recent or sequence <= self.forgotten_up_to

    def remember(self, fact_id: str, sequence: int) -> None:
        """Record an applied fact, forgetting the lowest sequences beyond the bound."""
        self.recent[fact_id] = sequence
        while len(self.recent) > self.limit:
            lowest = min(self.recent, key=self.recent.__getitem__)
            self.forgotten_up_to = max(self.forgotten_up_to, self.recent.pop(lowest))
