"""The pure core of the badges service: the catalogue, the criteria of every kind, the
employee's badge state and the Open Badges documents. Standard library only (with the shared
package's errors and envelope parsing): `tests/unit/test_domain_purity.py` checks it."""
