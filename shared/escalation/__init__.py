"""Stage 3, escalation: what happens next, a pure function of the policy and the time
it is given (plan), firing each step exactly once in the database (engine), and
moving a chain on at once when asked (hurry).

May import shared.core, shared.schedules (overrides), shared.routing (the on-call
configuration, and the chain an alert follows, frozen on it) and shared.notifications.
shared.routing never imports this package: the dependency goes one way.
"""
