"""tests/conftest.py's xdist groups: the tests sharing an instance of a costly fixture run on one worker."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SUITE_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("suite_conftest", {str(SUITE_CONFTEST)!r})
suite = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite)
pytest_collection_modifyitems = suite.pytest_collection_modifyitems
docker = suite.docker
"""

TESTS = """
import pytest

@pytest.fixture(scope="module", params=["a", "b"])
def server(request):
    return request.param

@pytest.fixture(scope="module")
def image():
    return "image"

@pytest.fixture
def per_test():
    return 1

def test_one(server): pass
def test_two(server, per_test): pass
def test_three(image, per_test): pass
def test_four(per_test, tmp_path, docker): pass

@pytest.mark.parametrize("n", [1, 2])
def test_five(image, n): pass
"""


def groups(pytester: pytest.Pytester) -> dict[str, str | None]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_groups_example=TESTS)
    items, _ = pytester.inline_genitems()
    marks = {item.name: item.get_closest_marker("xdist_group") for item in items}
    return {name: mark.args[0] if mark else None for name, mark in marks.items()}


def test_tests_sharing_a_module_fixture_instance_share_a_group(pytester: pytest.Pytester) -> None:
    found = groups(pytester)
    assert found["test_one[a]"] == found["test_two[a]"] is not None
    assert found["test_one[b]"] == found["test_two[b]"] is not None
    assert found["test_one[a]"] != found["test_one[b]"]  # another parameter is another instance
    assert found["test_three"] == found["test_five[1]"] == found["test_five[2]"] is not None
    assert found["test_three"] != found["test_one[a]"]


def test_function_fixtures_and_pytests_own_do_not_group(pytester: pytest.Pytester) -> None:
    assert groups(pytester)["test_four"] is None

