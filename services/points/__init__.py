"""Points service: rules as code, an explainable ledger, fair leaderboards."""
