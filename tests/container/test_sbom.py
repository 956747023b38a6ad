"""Every image carries its SBOM (README "Publishing"): CycloneDX JSON at the path its `sbom.path` label
names, made at build time, listing exactly the Python packages in /opt/venv (as pip sees them) and the
Debian packages dpkg has installed, with versions, and every pin of the image's locks (its own and its
parents'). Checked on every built Python, and on the other platform's variant of the images the publishing test
covers (RELEASE_TEST_IMAGES, docker_support)."""

from __future__ import annotations

import json
import re

import pytest

from docker_support import RELEASE_IMAGES, ROOT, TEST_PYTHON, image_exists, project, require_image

SBOM_PATH = "/opt/sbom.cdx.json"
PROBE = r"""
set -eu
cat "$1"
echo '<<<pip>>>'
pip list --format=json --disable-pip-version-check
echo '<<<dpkg>>>'
dpkg-query --show --showformat='${db:Status-Abbrev}\t${Package}\t${Version}\n'
"""
EVERY_TAG = [pytest.param(image, python, id=f"{image}-py{python}")
             for python in project.PYTHONS for image in project.IMAGES]
OTHER_ARCH = ["arm64", "amd64"]  # a variant built for the platform that is not the host's: org/base:py3.11-arm64


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(image: str, python: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for part in project.lineage(image):
        for line in (ROOT / part / "locks" / f"py{python}.txt").read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==", 1)
                pins[normal(name)] = version.strip()
    return pins


def check_sbom(ref: str, image: str, python: str, docker) -> None:
    labels = docker.images.get(ref).attrs["Config"]["Labels"] or {}
    assert labels.get("sbom.path") == SBOM_PATH, f"{ref}: label sbom.path is {labels.get('sbom.path')!r}"
    out = docker.containers.run(ref, ["sh", "-c", PROBE, "probe", SBOM_PATH], remove=True).decode()
    sbom_text, rest = out.split("<<<pip>>>\n")
    pip_text, dpkg_text = rest.split("<<<dpkg>>>\n")
    sbom = json.loads(sbom_text)
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.5", sbom.get("specVersion")
    meta = sbom["metadata"]["component"]
    assert meta["name"] == f"{project.ORG}/{image}" and meta["version"].startswith(f"py{python}-"), meta

    by_type: dict[str, dict[str, str]] = {"pypi": {}, "deb": {}}
    for component in sbom["components"]:
        kind = component["purl"].split(":", 1)[1].split("/", 1)[0]
        by_type.setdefault(kind, {})[normal(component["name"]) if kind == "pypi" else component["name"]] = \
            component["version"]
    in_venv = {normal(p["name"]): p["version"] for p in json.loads(pip_text)}
    assert by_type["pypi"] == in_venv, (
        f"{ref}: SBOM vs /opt/venv: only in SBOM {sorted(set(by_type['pypi'].items()) - set(in_venv.items()))}, "
        f"only in /opt/venv {sorted(set(in_venv.items()) - set(by_type['pypi'].items()))}")
    installed = {}
    for line in dpkg_text.splitlines():
        status, name, version = line.split("\t")
        if status.strip() == "ii":
            installed[name.split(":")[0]] = version
    assert by_type["deb"] == installed, (
        f"{ref}: SBOM vs dpkg: only in SBOM {sorted(set(by_type['deb'].items()) - set(installed.items()))}, "
        f"only in dpkg {sorted(set(installed.items()) - set(by_type['deb'].items()))}")
    missing = {name: version for name, version in lock_pins(image, python).items()
               if by_type["pypi"].get(name) != version}
    assert not missing, f"{ref}: pins of the lock not in the SBOM with their version: {missing}"
    assert by_type.get("generic", {}).get("cpython", "").startswith(f"{python}."), by_type.get("generic")


@pytest.mark.parametrize("image,python", EVERY_TAG)
def test_sbom_lists_every_python_and_debian_package_of_the_image(image: str, python: str, docker) -> None:
    check_sbom(require_image(image, python), image, python, docker)


@pytest.mark.parametrize("image", RELEASE_IMAGES)
def test_sbom_of_the_other_platform_lists_its_own_packages(image: str, docker) -> None:
    refs = [f"{project.image_ref(image, TEST_PYTHON)}-{arch}" for arch in OTHER_ARCH]
    built = [ref for ref in refs if image_exists(ref)]
    if not built:  # test_release.py's make push builds it when this runs with the other container tests
        pytest.fail(f"neither {' nor '.join(refs)} is built: make build-all PLATFORMS=linux/amd64,linux/arm64 "
                    f"PY={TEST_PYTHON} builds it (.ci/run does)")
    for ref in built:
        check_sbom(ref, image, TEST_PYTHON, docker)
