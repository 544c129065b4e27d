"""Maintenance notices: planned work announced to people by SMS, voice and WhatsApp.

A notice is defined in the on-call file (`notices:`, with `subscriber_lists:`)
and checked there with the rest of it. This package holds what a notice is
(model), its words (templates, segments), when it is due (recurrence,
schedule), whom it reaches (subscribers, recipients), the checks the loaded
file needs (checks), and what a run would do before anything is sent
(preview). Every decision is a pure function with the time passed in; reading
files and the database is left to the callers.

May import shared.core and shared.routing (contacts, teams, the file's field
types); never worker/ or webhooks/, which will act on what this package decides.
"""
