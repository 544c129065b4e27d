"""Stage 3, escalation: what happens next, a pure function of the policy and the time
it is given (plan), and firing each step exactly once in the database (engine).

May import shared.core, shared.routing (the on-call configuration) and shared.notifications.
"""
