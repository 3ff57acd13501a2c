"""Notifications: one package per integration, one sender with retries and a log."""
