"""Who may do what: roles, their permissions and bearer tokens (only hashes are stored)."""
