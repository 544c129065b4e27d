"""Maintenance notices: planned work announced to people by SMS, voice and WhatsApp.

A notice is defined in the on-call file (`notices:`, with `subscriber_lists:`)
and checked there with the rest of it. This package holds what a notice is
(model), its words (templates, segments), when it is due (recurrence,
schedule), whom it reaches (subscribers, recipients, audience), the checks the
loaded file needs (checks), and what a run would do before anything is sent
(preview).

Sending, exactly once and behind pages: what a beat tick starts or reports
missed (ticking), the states of a send and of each delivery (delivery_state),
how big a bulk request may be and what it books in the rate limiter (pacing),
what a batch run does next (batching), the database side of notices and sends
(store) and of deliveries batch by batch (deliveries), settling a batch
abandoned mid-request from Plivo's list (provider_match), delivery reports
(reports) and progress (progress). Decisions are pure functions with the
time passed in; store, deliveries, reports and progress read and write the
database; the tasks that run them are in worker/tasks/notice*.py.

Made by API or CLI: a definition checked as the file's and stored as JSON
(definitions), a change to it (updates), what a change means for people
already told, a correction and new words for the rest (corrections), their
database side with create and cancel (managed), and what list, show and
status show (views).

May import shared.core, shared.routing (contacts, teams, the file's field
types) and shared.sending (the rate limiter's limits, the sender pool, Plivo's
time format); never worker/ or webhooks/, which act on what this package decides.
"""
