"""Stage 2, routing: the on-call file (oncall_config: contacts, teams, policies, routes,
`config check`) and the configuration in force with the policy an alert follows (route).

May import shared.core, shared.alerts.schemas (severities) and shared.notices (the
notices section of the file); never shared.escalation,
which reads the chain routing chose and froze onto the alert (route.freeze_chain).
"""
