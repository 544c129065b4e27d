"""Phone numbers masked in Celery's logs: the worker, its pool children and beat.

Celery builds its own handlers when a worker or beat starts (on the root
logger and on its task logger, which does not propagate), after anything
this process configured before. Its logging signals fire once they exist, so
the masking is installed on them there. Pool children are forked afterwards
and inherit the handlers with their filters; `worker_process_init` installs
the masking again in each child, for handlers added in between and for
children that are not forked.
"""

from __future__ import annotations

from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_init

from shared.core.logging_setup import install_masking


@after_setup_logger.connect
@after_setup_task_logger.connect
@worker_process_init.connect
def _mask_phone_numbers(**_: object) -> None:
    install_masking()
