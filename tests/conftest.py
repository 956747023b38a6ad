"""Fixtures for every test under tests/; the helpers live in docker_support.py."""

import pytest

from docker_support import docker_client


@pytest.fixture(scope="session")
def docker():
    """The Docker SDK client."""
    return docker_client()
