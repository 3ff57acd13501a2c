"""Worry-free refunds: decide each refund at once (approve or review) and catch abuse rings.

`decider.RefundGuard` folds the decoded records in input order and decides each refund
from the state before it; `policy.load_policy` reads and validates the YAML policy;
`queue.ReviewQueue` keeps decisions and reviewers' verdicts in the store. Nothing is
imported here, so the command line stays quick to start.
"""
