"""The naive pager: the baseline the performance suite measures alert-dispatch against.

Built the obvious way: a Flask view stores the alert with SQLAlchemy and
enqueues one Celery task per page, which posts the SMS to Plivo. No routing,
no rate limits, no state machine, no audit log, no replay protection: what
alert-dispatch adds is exactly what the ratios in bench/results/performance.md
cost or save. It runs as the project does (gunicorn with gevent workers, one
Celery worker of four prefork children, Redis, the same database kind).
"""
