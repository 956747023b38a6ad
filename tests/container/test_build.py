"""The build: an unchanged tree is all cache, and the Python stand-in carries none of the machine's
apt settings."""

from __future__ import annotations

import subprocess
import sys

from docker_support import ROOT, TEST_PYTHON, project, require_image


def test_rebuilding_an_unchanged_image_is_all_cache() -> None:
    require_image("base", TEST_PYTHON)
    result = subprocess.run(
        [sys.executable, "tools/build.py", "base", "--python", TEST_PYTHON],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    expected = f"[base py{TEST_PYTHON}] unchanged (all cache)"
    assert expected in result.stdout, f"expected {expected!r} in:\n{result.stdout[-3000:]}"


def test_children_are_built_on_the_parent_this_run_built(docker) -> None:
    """Each child's label says which parent it was built on (versions.json), and that is the current parent tag."""
    for child in [image for image in project.IMAGES if project.parent(image)]:
        parent_ref = project.image_ref(project.parent(child), TEST_PYTHON)
        parent = docker.images.get(require_image(project.parent(child), TEST_PYTHON))
        image = docker.images.get(require_image(child, TEST_PYTHON))
        labels = image.attrs["Config"]["Labels"]
        assert labels["org.opencontainers.image.base.name"] == parent_ref, labels
        parent_layers = parent.attrs["RootFS"]["Layers"]
        child_layers = image.attrs["RootFS"]["Layers"]
        assert child_layers[: len(parent_layers)] == parent_layers, (
            f"{child} is not built on the current {parent_ref}: rebuild with make build-all")


def test_python_stand_in_keeps_no_machine_apt_settings(docker) -> None:
    base = docker.images.get(require_image("base", TEST_PYTHON))
    python_image = base.attrs["Config"]["Labels"]["org.opencontainers.image.base.name"]
    if not python_image.startswith("local/"):
        return  # a pulled official image: nothing of ours in it
    probe = "ls /etc/apt/apt.conf.d"
    output = docker.containers.run(python_image, ["sh", "-c", probe], remove=True).decode()
    assert "99mmdebstrap" not in output, f"the stand-in {python_image} keeps the build's apt options: {output}"


def test_date_tag_and_version_label_carry_the_same_day(docker) -> None:
    """One rule for dates (tools/project.py `tags`): the UTC day of the last commit touching the image's sources."""
    for image in project.IMAGES:
        built = docker.images.get(require_image(image, TEST_PYTHON))
        day = project.source_day(image)
        version = built.attrs["Config"]["Labels"]["org.opencontainers.image.version"]
        assert version == f"py{TEST_PYTHON}-{day}", f"{image}: version label {version!r}, sources' day {day}"
        date_tag = f"{project.image_ref(image, TEST_PYTHON)}-{day}"
        assert date_tag in built.tags, f"{image}: expected the tag {date_tag}, the image has {built.tags}"
