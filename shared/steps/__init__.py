"""Escalation steps that do more than page: run a PHLO, post to a webhook.

What the on-call file says of them is in shared.routing.step_kinds; here is what
a run or a post carries (phlo_step, webhook_step), the alert as both show it
(facts), and their records in the event log (step_log). The tasks that send
them are worker/tasks/run_phlo_step.py and worker/tasks/post_webhook_step.py.

May import shared.core, shared.routing, shared.escalation (the plan, and the engine to
move a chain on), shared.sending.retry and shared.notifications.sms_text; nothing
imports it but the worker.
"""
