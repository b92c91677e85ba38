"""The badges service: badge criteria over the event log and the points ledger, awards
with their evidence, progress, revocation, and Open Badges export."""
