"""Finding the monitoring tools a test needs, or skipping with how to install them."""

from __future__ import annotations

import shutil

import pytest

INSTALL = {
    "promtool": "apt-get install prometheus (Debian/Ubuntu) or a Prometheus release tarball",
    "prometheus": "apt-get install prometheus (Debian/Ubuntu) or a Prometheus release tarball",
    "docker-compose": "apt-get install docker-compose, or Docker's compose plugin",
}


def require(tool: str) -> str:
    """The path of `tool`, or skip the test saying how to install it."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(
            f"{tool} is not installed ({INSTALL.get(tool, 'install it')}); see deploy/README.md"
        )
    return path
