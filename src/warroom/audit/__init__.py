"""The audit trail: typed events (actor, UTC time, action, target, result) through one function."""

from warroom.audit.log import AuditEvent, AuditLog

__all__ = ["AuditEvent", "AuditLog"]
