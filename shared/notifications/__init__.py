"""Stage 4, notifications: the one state machine of an SMS or a call (state), planning
them and moving them through it in the database (store), their words (sms_text, voice_xml,
bundling) and which page goes first (priority).

May import shared.core, shared.alerts.schemas (severities) and shared.replies.
"""
