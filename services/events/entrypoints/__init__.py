"""How the events service is driven: the API (app factory and blueprint), the inbound
consumer, the relay and the command-line tools. Each turns its input into calls of the
service layer (`handlers.py`), wired by `bootstrap.py`."""
