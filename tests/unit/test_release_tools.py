"""The release tooling's decisions, without Docker: platform names, emulation readiness, registry names,
the date-tag rule of `make push`, host tools it installs, and the SBOM writer (shared/sbom.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import host_tools  # noqa: E402
import platforms  # noqa: E402
import project  # noqa: E402
import release  # noqa: E402
import sbom  # noqa: E402  (shared/, on sys.path through conftest)

AMD64, ARM64 = platforms.KNOWN["linux/amd64"], platforms.KNOWN["linux/arm64"]


@pytest.fixture(autouse=True)
def amd64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platforms, "host", lambda: AMD64)


def test_platforms_default_to_the_hosts_and_keep_the_order_given() -> None:
    assert platforms.parse("") == [AMD64]
    assert platforms.parse("linux/arm64, linux/amd64,linux/arm64") == [ARM64, AMD64]


def test_an_unknown_platform_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(platforms.Unsupported) as error:
        platforms.parse("linux/amd64,linux/s390x")
    assert str(error.value) == "PLATFORMS=linux/amd64,linux/s390x: unknown platform 'linux/s390x'; known: linux/amd64, linux/arm64"


def test_only_another_platforms_images_carry_the_architecture_in_their_tag() -> None:
    assert platforms.local_ref("base", "3.11", AMD64) == f"{platforms.project.ORG}/base:py3.11"
    assert platforms.local_ref("base", "3.11", ARM64) == f"{platforms.project.ORG}/base:py3.11-arm64"


@pytest.mark.parametrize(("entry", "problem"), [
    (None, "no binfmt_misc entry"),
    ("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: F\n", "is disabled"),
    ("enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OC\n", "lacks the F flag"),
    ("enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OCF\n", ""),
])
def test_emulation_counts_only_when_enabled_with_the_f_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            entry: str | None, problem: str) -> None:
    monkeypatch.setattr(platforms, "BINFMT", tmp_path)
    if entry is not None:
        (tmp_path / "qemu-aarch64").write_text(entry)
    found = platforms._registered(ARM64)
    assert (problem in found) if problem else found == "", found


def test_a_missing_host_tool_without_root_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_tools.shutil, "which", lambda name: None if name == "mmdebstrap" else f"/usr/bin/{name}")
    monkeypatch.setattr(host_tools.os, "geteuid", lambda: 1000)
    with pytest.raises(host_tools.Missing) as error:
        host_tools.ensure({"mmdebstrap": "mmdebstrap"}, "to make stand-ins")
    assert "run `sudo apt-get install mmdebstrap`" in str(error.value)


def test_a_present_host_tool_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_tools.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(host_tools, "_apt", lambda arguments: pytest.fail(f"apt-get {arguments} ran"))
    host_tools.ensure({"mmdebstrap": "mmdebstrap"}, "to make stand-ins")


@pytest.mark.parametrize(("text", "host", "namespace", "insecure"), [
    ("127.0.0.1:5000/acme", "127.0.0.1:5000", "acme", True),
    ("localhost:5000/acme/images", "localhost:5000", "acme/images", True),
    ("[::1]:5000/acme", "[::1]:5000", "acme", True),
    ("ghcr.io/acme", "ghcr.io", "acme", False),
    ("registry.example:443/team-a/web_apps", "registry.example:443", "team-a/web_apps", False),
])
def test_registry_is_host_and_namespace(text: str, host: str, namespace: str, insecure: bool) -> None:
    registry = release.parse_registry(text)
    assert (registry.host, registry.namespace, registry.insecure) == (host, namespace, insecure)


@pytest.mark.parametrize(("text", "says"), [
    ("", "REGISTRY is not set"),
    ("acme", "is not host[:port]/namespace"),
    ("acme/images", "is not a registry host"),
    ("127.0.0.1:5000/Acme", "must be lowercase"),
    ("127.0.0.1:5000/acme/", "must be lowercase"),
])
def test_a_bad_registry_is_one_clear_line(text: str, says: str) -> None:
    with pytest.raises(release.ReleaseError) as error:
        release.parse_registry(text)
    assert says in str(error.value) and "\n" not in str(error.value)


def publication(image: str = "base") -> release.Publication:
    ids = {"linux/amd64": "sha256:aaa", "linux/arm64": "sha256:bbb"}
    return release.Publication(image, "3.11", {}, ids, ["py3.11", "py3.11-2026-11-30", "latest"], "py3.11-2026-11-30")


@pytest.mark.parametrize(("there", "force", "keep", "outcome"), [
    (None, False, False, "all tags"),  # a new date tag
    ({"linux/amd64": "sha256:aaa", "linux/arm64": "sha256:bbb"}, False, False, "all tags"),  # the same content
    ({"linux/amd64": "sha256:ccc", "linux/arm64": "sha256:bbb"}, False, False, "stops"),
    ({"linux/amd64": "sha256:aaa"}, False, False, "stops"),  # a platform fewer is other content too
    ({"linux/amd64": "sha256:ccc", "linux/arm64": "sha256:bbb"}, True, False, "all tags"),
    ({"linux/amd64": "sha256:ccc", "linux/arm64": "sha256:bbb"}, False, True, "date tag left"),
])
def test_a_date_tag_moves_to_other_content_only_when_forced(monkeypatch: pytest.MonkeyPatch, there, force: bool,
                                                           keep: bool, outcome: str) -> None:
    monkeypatch.setattr(release, "remote_content", lambda ref, insecure: there)
    pubs = [publication()]
    registry = release.parse_registry("127.0.0.1:5000/acme")
    if outcome == "stops":
        with pytest.raises(release.ReleaseError) as error:
            release.check_dated(registry, pubs, force, keep)
        assert "127.0.0.1:5000/acme/base:py3.11-2026-11-30" in str(error.value) and "FORCE=1" in str(error.value)
        return
    release.check_dated(registry, pubs, force, keep)
    expected = ["py3.11", "latest"] if outcome == "date tag left" else ["py3.11", "py3.11-2026-11-30", "latest"]
    assert pubs[0].tags == expected


def fake_venv(root: Path, packages: dict[str, str]) -> Path:
    site = root / "lib" / "python3.11" / "site-packages"
    for name, version in packages.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def test_sbom_lists_each_venv_distribution_with_a_pypi_purl(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, {"gunicorn": "27.0.1", "typing_extensions": "4.16.0"})
    found = sbom.python_packages((venv,))
    assert [(c["name"], c["version"], c["purl"]) for c in found] == [
        ("gunicorn", "27.0.1", "pkg:pypi/gunicorn@27.0.1"),
        ("typing_extensions", "4.16.0", "pkg:pypi/typing-extensions@4.16.0"),
    ]


def test_sbom_of_a_child_lists_the_parents_venv_and_its_overlay(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv", {"gunicorn": "27.0.1"})
    overlay = fake_venv(tmp_path / "overlay", {"uvicorn": "0.54.0"})
    found = sbom.python_packages((venv, overlay, tmp_path / "missing"))
    assert [(c["name"], c["version"]) for c in found] == [("gunicorn", "27.0.1"), ("uvicorn", "0.54.0")]


def test_sbom_document_is_cyclonedx_and_the_same_for_the_same_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = fake_venv(tmp_path, {"gunicorn": "27.0.1"})
    real = sbom.python_packages
    monkeypatch.setattr(sbom, "python_packages", lambda: real((venv,)))
    deb = [{"type": "library", "bom-ref": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=arm64&distro=debian-12",
            "name": "libc6", "version": "2.36-9+deb12u4",
            "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=arm64&distro=debian-12"}]
    monkeypatch.setattr(sbom, "debian_packages", lambda: deb)
    first = sbom.document("acme/base", "py3.11-2026-11-30")
    second = sbom.document("acme/base", "py3.11-2026-11-30")
    assert json.dumps(first) == json.dumps(second)
    assert (first["bomFormat"], first["specVersion"]) == ("CycloneDX", "1.5")
    assert first["metadata"]["component"] == {"type": "container", "bom-ref": "acme/base:py3.11-2026-11-30",
                                              "name": "acme/base", "version": "py3.11-2026-11-30"}
    names = [c["name"] for c in first["components"]]
    assert names == ["cpython", "gunicorn", "libc6"], names



def test_sbom_debian_purl_encodes_epochs_and_plus_signs() -> None:
    assert sbom._purl_version("1:2.36-9+deb12u4") == "1%3A2.36-9%2Bdeb12u4"


def test_only_pushes_the_images_named_and_their_parents_parents_first() -> None:
    assert release.with_parents(["fastapi"]) == ["base", "uvicorn", "fastapi"]
    assert release.with_parents(["starlette", "flask"]) == ["base", "flask", "uvicorn", "starlette"]
    assert release.with_parents(project.IMAGES) == project.IMAGES
