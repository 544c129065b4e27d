"""Stage 5, sending: the limits a send must pass (limits) on one global rate limiter in
Redis (rate_limiter), the shared circuit breaker (breaker), when to try again (retry), and
how a send of unknown outcome is settled (reconcile). The send path itself runs in
worker/send_flow.py.

May import shared.core, shared.notifications and shared.plivo.
"""
