"""Publishing end to end (README "Publishing"): `make push` sends the default Python's family for linux/amd64
and linux/arm64 to a real registry (Debian's docker-registry on 127.0.0.1, storage in a temporary directory)
as manifest lists; with no local tag of the registry left, each platform's variant is pulled back and answers
from its own architecture; a user's `FROM <registry>/…/fastapi:pyX.Y` builds and runs on both platforms; and
a date tag is never moved to other content unless forced.

`make push` builds first (all cache after `make build-all PLATFORMS=linux/amd64,linux/arm64 PY=X.Y`); run
cold, this module builds the arm64 images under emulation (about 8 minutes on 2 cores). .ci/run builds the
whole family for arm64 on the default Python first.

RELEASE_TEST_IMAGES (space-separated; default: every image) narrows the family pushed to those images and
their parents, e.g. `fastapi` (base, uvicorn, fastapi) while working on one image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from docker_support import RELEASE_IMAGES, ROOT, free_port, project

import host_tools  # tools/, on sys.path through docker_support

PY = project.DEFAULT_PYTHON
IMAGES = RELEASE_IMAGES
PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}  # platform -> platform.machine() there
TAGS = [f"py{PY}", "latest"]  # and the date tag, per image
PUSH_TIMEOUT = 3600  # a cold arm64 build under emulation included

pytestmark = pytest.mark.timeout(PUSH_TIMEOUT + 600)


def docker(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *arguments], capture_output=True, text=True, timeout=timeout)


def make_push(registry: str, *extra: str) -> subprocess.CompletedProcess[str]:
    only = [] if IMAGES == project.IMAGES else [f"ONLY={' '.join(IMAGES)}"]
    return subprocess.run(["make", "push", f"REGISTRY={registry}", f"PLATFORMS={','.join(PLATFORMS)}", f"PY={PY}",
                           *only, *extra], cwd=ROOT, capture_output=True, text=True, timeout=PUSH_TIMEOUT)


def local_id(ref: str) -> str:
    result = docker("image", "inspect", "--format", "{{.Id}}", ref)
    assert result.returncode == 0, f"{ref} is not a local image: {result.stderr}"
    return result.stdout.strip()


def built_ids(image: str) -> dict[str, str]:
    """platform -> the ID of the image `make push` pushed for it (the host's plain tag, the other's -arch tag)."""
    host = docker("version", "--format", "{{.Server.Os}}/{{.Server.Arch}}").stdout.strip()
    return {platform: local_id(project.image_ref(image, PY) + ("" if platform == host else f"-{platform.split('/')[1]}"))
            for platform in PLATFORMS}


def listed(ref: str) -> dict[str, str]:
    """What a tag names in the registry: platform -> image config digest (= the local image ID)."""
    result = docker("manifest", "inspect", "--insecure", "--verbose", ref)
    assert result.returncode == 0, f"{ref} is not in the registry: {result.stderr}"
    entries = json.loads(result.stdout)
    assert isinstance(entries, list), f"{ref} is a single manifest, not a manifest list: {result.stdout[:500]}"
    return {f"{e['Descriptor']['platform']['os']}/{e['Descriptor']['platform']['architecture']}":
            e["SchemaV2Manifest"]["config"]["digest"] for e in entries}


def registry_tags(registry: str) -> list[str]:
    """Every local tag that names the registry (none should be left)."""
    out = docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return [ref for ref in out if ref.startswith(registry.split("/")[0] + "/")]


def remove_registry_tags(registry: str) -> None:
    for ref in registry_tags(registry):
        docker("rmi", ref)
    assert not registry_tags(registry), f"local tags of the registry left: {registry_tags(registry)}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1, storing in a temporary directory; yields host:port/namespace."""
    try:  # as the build does for its own tools: installed with apt when this runs as root
        host_tools.ensure({"docker-registry": "docker-registry"}, "for the end-to-end publishing test")
    except host_tools.Missing as error:
        pytest.fail(str(error))
    binary = shutil.which("docker-registry") or "docker-registry"
    port = free_port()
    root = tmp_path_factory.mktemp(f"{project.ORG}-registry")
    config = root / "config.yml"
    config.write_text(textwrap.dedent(f"""\
        version: 0.1
        log:
          level: warn
        storage:
          filesystem:
            rootdirectory: {root / 'data'}
        http:
          addr: 127.0.0.1:{port}
        """))
    log = (root / "registry.log").open("w")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not answer on 127.0.0.1:{port}: {(root / 'registry.log').read_text()}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}/acme"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        remove_registry_tags(f"127.0.0.1:{port}/acme")


@pytest.fixture(scope="module")
def pushed(registry: str) -> str:
    started = time.monotonic()
    result = make_push(registry)
    assert result.returncode == 0, f"make push failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    print(f"make push ({', '.join(PLATFORMS)}, py{PY}) took {time.monotonic() - started:.0f}s")
    return registry


def test_push_makes_a_manifest_list_of_both_platforms_for_every_tag(pushed: str) -> None:
    for image in IMAGES:
        expected = built_ids(image)
        for tag in [*TAGS, f"py{PY}-{project.source_day(image)}"]:
            ref = f"{pushed}/{image}:{tag}"
            assert listed(ref) == expected, f"{ref} names {listed(ref)}, the build made {expected}"
    assert not registry_tags(pushed), f"make push left local tags of the registry: {registry_tags(pushed)}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_is_pulled_from_the_registry_and_answers_from_its_architecture(pushed: str, platform: str) -> None:
    remove_registry_tags(pushed)
    for image in IMAGES:
        ref = f"{pushed}/{image}:py{PY}"
        pulled = docker("pull", "--platform", platform, ref)
        assert pulled.returncode == 0, f"docker pull --platform {platform} {ref}: {pulled.stderr}"
        answer = serve_once(ref, platform)
        assert answer["machine"] == PLATFORMS[platform], f"{ref} for {platform} answered {answer}"
        assert answer["python"].startswith(f"{PY}."), answer
        docker("rmi", ref)


def serve_once(ref: str, platform: str) -> dict:
    """Run `ref` for `platform` on a loopback port and return its JSON answer to GET /."""
    port = free_port()
    name = f"{project.ORG}-release-{uuid.uuid4().hex[:10]}"
    started = docker("run", "-d", "--name", name, "--platform", platform, "-p", f"127.0.0.1:{port}:80", ref)
    assert started.returncode == 0, f"docker run --platform {platform} {ref}: {started.stderr}"
    try:
        deadline = time.monotonic() + 120  # Gunicorn and its workers start several times slower under emulation
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
                assert response.status_code == 200, f"{ref} ({platform}) gave {response.status_code}: {response.text}"
                return response.json()
            except requests.RequestException as error:
                running = docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
                if running != "true" or time.monotonic() > deadline:
                    logs = docker("logs", "--tail", "30", name)
                    pytest.fail(f"{ref} ({platform}) did not answer ({error}); running={running}; last logs:\n"
                                f"{logs.stdout}{logs.stderr}")
                time.sleep(0.5)
    finally:
        docker("rm", "-f", name)


DOWNSTREAM_APP = '''\
import platform

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root():
    return {"app": "downstream", "machine": platform.machine(), "python": platform.python_version()}
'''


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_user_image_builds_from_the_registry_on_a_clean_tag_set(pushed: str, platform: str, tmp_path: Path) -> None:
    remove_registry_tags(pushed)
    base = f"{pushed}/fastapi:py{PY}"
    (tmp_path / "main.py").write_text(DOWNSTREAM_APP)
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nCOPY main.py /app/main.py\n")
    tag = f"{project.ORG}-release-downstream:{platform.split('/')[1]}"
    built = docker("build", "--platform", platform, "--tag", tag, str(tmp_path))
    assert built.returncode == 0, f"FROM {base} for {platform} did not build:\n{built.stdout[-2000:]}{built.stderr}"
    try:
        answer = serve_once(tag, platform)
        assert answer == {"app": "downstream", "machine": PLATFORMS[platform], "python": answer["python"]}, answer
    finally:
        docker("rmi", tag)
        remove_registry_tags(pushed)


def test_a_date_tag_is_never_moved_to_other_content_unless_forced(pushed: str, tmp_path: Path) -> None:
    """The registry's date tag of base names a changed amd64 image: make push stops with one line, KEEP_DATED=1
    pushes the rest and leaves it, FORCE=1 moves it back to what the sources build."""
    image = "base"
    dated = f"{pushed}/{image}:py{PY}-{project.source_day(image)}"

    changed = f"{pushed}/{image}:changed-amd64"
    (tmp_path / "Dockerfile").write_text(f"FROM {project.image_ref(image, PY)}\nLABEL changed=yes\n")
    assert docker("build", "--tag", changed, str(tmp_path)).returncode == 0
    assert docker("push", changed).returncode == 0
    docker("manifest", "rm", dated)
    assert docker("manifest", "create", "--insecure", dated, changed, f"{pushed}/{image}:py{PY}-arm64").returncode == 0
    assert docker("manifest", "push", "--insecure", "--purge", dated).returncode == 0
    docker("rmi", changed)
    other = listed(dated)
    assert other != built_ids(image)

    stopped = make_push(pushed)
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
    assert stopped.returncode != 0, f"make push moved {dated}:\n{stopped.stdout[-2000:]}"
    assert len(errors) == 1 and dated in errors[0] and "FORCE=1" in errors[0], stopped.stderr
    assert "pushing" not in stopped.stdout, f"something was pushed before the check:\n{stopped.stdout[-2000:]}"
    assert listed(dated) == other

    kept = make_push(pushed, "KEEP_DATED=1")  # the other images' date tags name the same content: pushed again
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr
    assert listed(dated) == other, f"KEEP_DATED=1 moved {dated}"
    assert listed(f"{pushed}/{image}:py{PY}") == built_ids(image), "KEEP_DATED=1 did not push the rest"
    for sibling in IMAGES[1:]:
        ref = f"{pushed}/{sibling}:py{PY}-{project.source_day(sibling)}"
        assert listed(ref) == built_ids(sibling), f"{ref} after a push of the same content"

    forced = make_push(pushed, "FORCE=1")
    assert forced.returncode == 0, forced.stdout[-3000:] + forced.stderr
    assert listed(dated) == built_ids(image), f"FORCE=1 did not move {dated}"
