"""The events service: the only door into Cercle. It validates, stores and publishes
events (through an outbox), keeps the employee directory and the survey answers."""
