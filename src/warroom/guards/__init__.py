"""Guards: keyed checks beside the aggregation path (the catalog guard, later refunds)."""
