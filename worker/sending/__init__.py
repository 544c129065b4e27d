"""The send path, in one place: every page (SMS or call) and every answer to an
inbound SMS leaves through here, so they share one sender choice, one set of
rate-limit keys, one Powerpack and one choice of Plivo account.

flow runs a page through its phases (guard, bundle hold, rate-limit gate, claim,
deliver, record); gate books rate-limit slots and bundle windows; failures acts
on a failed request; providers picks the primary or backup account; sms and voice
say what differs between the channels; handover says what the tick and the
hand-over of sends hand over.

May import shared.* and worker.context, worker.enqueue, worker.task_names; never
worker.tasks (the tasks import this package, not the other way round) nor
worker.celery_app.
"""
