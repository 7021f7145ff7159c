"""Stock in and around: receiving, transfers, adjustments, counts, destruction, costs,
the movement ledger and reorder suggestions (issue 11)."""
