"""The pure core of the points service: rules, scoring and ranking (standard library only)."""
