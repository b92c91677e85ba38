"""The pure core of the badges service: the catalogue, the criteria of every kind, the
employee's badge state and the Open Badges documents. Standard library only."""
