"""Stage 5, sending: the limits a send must pass (limits) on one global GCRA rate limiter
(gcra: the arithmetic, pure; rate_limiter: booked in Redis), the shared circuit breaker
(breaker), what a failed request means and when to try again (retry), and how a send of
unknown outcome is settled (reconcile). The send path itself runs in worker/sending/.

May import shared.core, shared.notifications and shared.plivo.
"""
