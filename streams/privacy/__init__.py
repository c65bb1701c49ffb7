"""Privacy: pseudonyms of user ids, erasure requests and receipts, erased markers (pure)."""
