"""The ground every stage stands on: settings, the database and its models, the event
log, metrics, logging with numbers masked, phone numbers, strict JSON, the embedded Redis.

Imports nothing else from shared/ (core.db finds shared/migrations by path).
"""
