"""Campaigns: definitions (`model`), live progress against target and plan (`progress`,
`service`), the review (`review`).

Nothing is imported here: `warroom.cli` loads `campaigns.commands` for every command,
and pydantic and YAML (65 ms) are only needed by the campaign commands themselves.
"""
