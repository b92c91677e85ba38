"""Plumbing shared by every Cercle service: settings, the event envelope, errors,
Kafka and Mongo helpers, JSON logging, health and metrics. Written once, used by all."""
