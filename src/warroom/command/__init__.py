"""Command: emergency plans and their runs, actions, incidents, the broadcast channel, audit.

A domain package in the Netflix-Dispatch manner: `plans` (the YAML format and its
checker), `actions` (what a step does, with dry run, apply and undo), `runs` (the
step-by-step state machine), `incidents`, `broadcast` and `audit_chain` hold service
functions with keyword-only arguments and no HTTP; a thin router calls them.
"""
