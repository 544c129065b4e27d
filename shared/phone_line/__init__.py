"""The on-call phone line: a number people call to hear the open alerts, acknowledge
them by keypress, learn who is on call and be put through to them.

Plivo answers the number with the receiver's `/plivo/voice/inbound`
(webhooks.plivo_phone_line). This package holds what that route decides and
says: the open alerts in the order they are read out (open_alerts), who is on
call now and whom to connect a caller to (on_call_now), and the Plivo XML
(words).
"""
