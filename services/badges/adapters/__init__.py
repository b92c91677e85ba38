"""The badges service's adapters: what implements the ports over MongoDB (`repository`),
Kafka (`publisher`) and the events service's HTTP API (`recipients`), the storage form of
the state (`state_documents`), the catalogue file (`definitions`) and the Open Badges
signing key (`signing`)."""
