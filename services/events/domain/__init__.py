"""The pure core of the events service: standard library only."""
