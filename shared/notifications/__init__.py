"""Stage 4, notifications: the one state machine of an SMS or a call (state), planning
them and moving them through it in the database (store, move_bundle), the last check
before a request (guard), their words (sms_text, voice_xml, bundling), which page goes
first (priority) and which live calls to end when an alert closes (live_calls).

May import shared.core, shared.alerts.schemas (severities) and shared.replies.
"""
