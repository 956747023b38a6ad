"""Fixtures and collection rules for every test under tests/; the helpers live in docker_support.py.

`make test` runs the tests in two phases (Makefile): most of them on two pytest-xdist workers, then the ones
marked `alone` with nothing beside them. For the first phase each test is put in an xdist group by the
costly fixture instances it shares (a module- or session-scoped fixture of ours, per parameter): the tests
that share one run on the same worker, so a fixture image or container is made once, not once per worker.
"""

from __future__ import annotations

import pytest

from docker_support import docker_client

SHARED_SCOPES = ("module", "package", "session")
CHEAP_SHARED = {"docker"}  # the SDK client: one per worker costs nothing


@pytest.fixture(scope="session")
def docker():
    """The Docker SDK client."""
    return docker_client()


def shared_fixture_group(item: pytest.Item) -> str | None:
    """The xdist group of a test: the module- or session-scoped fixture instances of ours it uses (with their
    parameters), or None when it uses none and may run on any worker."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    parts = []
    for name in item.fixturenames:
        definitions = info.name2fixturedefs.get(name)
        if not definitions or name in CHEAP_SHARED:
            continue
        fixture = definitions[-1]
        if fixture.scope not in SHARED_SCOPES or not fixture.baseid:  # pytest's own (tmp_path_factory, ...)
            continue
        owner = item.nodeid.split("::")[0] if fixture.scope == "module" else fixture.baseid
        parts.append(f"{owner}:{name}={params.get(name, '')}")
    return " ".join(sorted(parts)) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = shared_fixture_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))
