"""Adapters of the points service: MongoDB store, Redis leaderboard index, Kafka publisher,
the rules file and the event history."""
