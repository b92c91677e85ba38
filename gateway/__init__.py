"""The GraphQL gateway: the one public API of Cercle. Stateless; it reads from the points,
badges and events services and records actions through the events service."""
