"""Load: the file ledger, the merge (a transaction per group), bookkeeping, lock, publish."""
