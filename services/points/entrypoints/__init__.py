"""Entry points of the points service: the app factory and its blueprint, the consumer
and the command-line tools."""
