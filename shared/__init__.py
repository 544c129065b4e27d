"""Everything the receiver and the workers share, one package per stage of an alert:
alerts (ingestion) -> routing -> escalation -> notifications -> sending -> replies, on
core (settings, database, event log, metrics), with plivo at the edge. See
docs/ARCHITECTURE.md.
"""
