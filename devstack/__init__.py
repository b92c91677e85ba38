"""The local Cercle stack, started by the project itself, without Docker.

`python -m devstack install | up | down | status | env | run | demo`: Apache Kafka (KRaft,
one node), FerretDB (the MongoDB wire-protocol server, SQLite handler) and Redis, each
instance (`dev`, `test`) with its own ports, data and logs under `.stack/<name>/`.
The package uses the standard library only; the readiness probes import the project's
own clients (kafka-python, pymongo, redis) lazily, from the project's virtual environment.
"""
