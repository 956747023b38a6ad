"""tools/build.py's scheduling, without Docker: parents before children, up to `jobs` builds at once, a
failed parent fails its children only, an unavailable Python is skipped whole."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import build  # noqa: E402
import machine  # noqa: E402
import platforms  # noqa: E402
import project  # noqa: E402
import python_base  # noqa: E402

AMD64, ARM64 = platforms.KNOWN["linux/amd64"], platforms.KNOWN["linux/arm64"]


class FakeBuilds:
    """Stands in for `docker build`: records start and end order and the most builds seen at once."""

    def __init__(self, fail: set[tuple[str, str]] = frozenset(), unavailable: set[str] = frozenset()) -> None:
        self.fail, self.unavailable = fail, unavailable
        self.events: list[tuple[str, str, str, str]] = []  # ("start"/"end", image, python, platform)
        self.running = self.most = 0
        self.given: dict[str, python_base.PythonBase] = {}  # image -> the Python images it was built on
        self.lock = threading.Lock()

    def ensure(self, python: str, platform: platforms.Platform, compiling: bool = True) -> python_base.PythonBase:
        if python in self.unavailable:
            raise python_base.Unavailable(f"no python{python} here")
        with self.lock:
            self.events.append(("python", "compiling" if compiling else "slim", python, platform.name))
        return python_base.PythonBase(python, f"py:{python}-slim", f"py:{python}" if compiling else "", "local")

    def build_image(self, image: str, base: python_base.PythonBase, verbose: bool, platform: platforms.Platform) -> str:
        with self.lock:
            self.events.append(("start", image, base.python, platform.name))
            self.given[image] = base
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
            self.events.append(("end", image, base.python, platform.name))
        return "failed" if (image, base.python) in self.fail else "built"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    def install(**options) -> FakeBuilds:
        builds = FakeBuilds(**options)
        monkeypatch.setattr(machine, "write_pip_context", lambda: None)
        monkeypatch.setattr(platforms, "host", lambda: AMD64)
        monkeypatch.setattr(platforms, "ensure_emulation", lambda platform: None)
        monkeypatch.setattr(python_base, "ensure", builds.ensure)
        monkeypatch.setattr(build, "build_image", builds.build_image)
        return builds
    return install


def test_every_image_starts_after_its_parent_ended_and_jobs_bound_the_builds_at_once(fake) -> None:
    builds = fake()
    outcome = build.build(project.IMAGES, ["3.11", "3.13"], False, [AMD64, ARM64], jobs=3)
    assert len(outcome.built) == len(project.IMAGES) * 2 * 2 and not outcome.failed
    ended_at = {event[1:]: index for index, event in enumerate(builds.events) if event[0] == "end"}
    for index, (what, image, python, platform) in enumerate(builds.events):
        if what == "python":
            continue
        parent = project.parent(image)
        if what == "start" and parent:
            assert ended_at[(parent, python, platform)] < index, f"{image} {python} {platform} began before {parent}"
    assert 1 < builds.most <= 3


def test_one_job_builds_one_at_a_time(fake) -> None:
    builds = fake()
    build.build(["fastapi"], ["3.11"], False, None, jobs=1)
    assert builds.most == 1
    assert [event[1] for event in builds.events if event[0] == "start"] == ["base", "uvicorn", "fastapi"]


def test_a_failed_parent_fails_its_children_and_not_their_cousins(fake, capsys: pytest.CaptureFixture[str]) -> None:
    fake(fail={("uvicorn", "3.11")})
    outcome = build.build(project.IMAGES, ["3.11"], False, None, jobs=2)
    refs = {image: project.image_ref(image, "3.11") for image in project.IMAGES}
    assert set(outcome.failed) == {refs["uvicorn"], refs["fastapi"], refs["starlette"]}
    assert set(outcome.built) == {refs["base"], refs["flask"]}
    assert "[fastapi py3.11] FAILED: its base uvicorn was not built" in capsys.readouterr().out


def test_an_unavailable_python_is_skipped_whole_and_the_others_are_built(fake, capsys: pytest.CaptureFixture[str]) -> None:
    builds = fake(unavailable={"3.12"})
    outcome = build.build(project.IMAGES, ["3.11", "3.12"], False, None, jobs=2)
    assert not outcome.failed and outcome.skipped == {"3.12": "no python3.12 here"}
    assert {event[2] for event in builds.events} == {"3.11"}
    assert "[py3.12] skipped: no python3.12 here" in capsys.readouterr().out


def test_only_the_compiling_image_waits_for_the_compiling_python_made_once_per_python(fake) -> None:
    builds = fake()
    build.build(project.IMAGES, ["3.11"], False, None, jobs=2)
    made = [event[1] for event in builds.events if event[0] == "python"]
    assert sorted(made) == ["compiling", "slim"]
    for image, base in builds.given.items():
        assert bool(base.full) == build.needs_compiler(image), f"{image} was built on {base}"
    assert any(build.needs_compiler(image) for image in project.IMAGES), "no image compiles: the test tests nothing"
