"""The events service's adapters: the MongoDB stores (raw pymongo on the door's and the
relay's paths, mongoengine for the directory), the door's copy of the directory and the
Kafka publisher. Each implements ports of `services.events.ports`."""
