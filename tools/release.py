"""Publish the family to a registry as multi-platform images (make push).

    make push REGISTRY=host[:port]/namespace [PLATFORMS=linux/amd64,linux/arm64] [PY=3.11] [ONLY="fastapi ..."]
              [FORCE=1 | KEEP_DATED=1]

First it builds what is asked (tools/build.py, all cache after `make build-all`), so what is pushed is what
the sources make. Then, for every image of every asked Python (every supported one without PY; every image,
or with ONLY the images named and their parents), it pushes
one image per platform, `<registry>/fastapi:py3.11-amd64`, `…:py3.11-arm64`, and manifest lists over them:
`…:py3.11`, `…:py3.11-YYYY-MM-DD` (the image's source day, tools/project.py) and `…:latest` for the
default Python.

A date tag never moves to other content: before anything is pushed, each date tag already in the registry
is compared with what would be pushed (each platform's image config digest, which is the local image ID).
Other content stops the push with one line, unless FORCE=1 (move it) or KEEP_DATED=1 (leave it and push
the rest). The registry is named on the command line only; plain HTTP (`--insecure`) is allowed for a
registry on a loopback address alone, as the Docker engine does.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import build
import platforms
import project

COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"  # one path component of a repository name (Docker's rule)


class ReleaseError(Exception):
    """Stops the push; the message is the one line the user sees."""


@dataclass(frozen=True)
class Registry:
    host: str  # host[:port]
    namespace: str

    @property
    def insecure(self) -> bool:
        name = self.host.rsplit(":", 1)[0] if not self.host.startswith("[") else self.host[1:].split("]")[0]
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def repository(self, image: str) -> str:
        return f"{self.host}/{self.namespace}/{image}"


def parse_registry(text: str) -> Registry:
    """`host[:port]/namespace` -> Registry; anything else raises with what is wrong."""
    host, _, namespace = text.strip().partition("/")
    example = "e.g. 127.0.0.1:5000/acme or ghcr.io/acme"
    if not text.strip():
        raise ReleaseError(f"REGISTRY is not set: make push REGISTRY=host[:port]/namespace ({example})")
    if not host or not namespace:
        raise ReleaseError(f"REGISTRY={text!r} is not host[:port]/namespace ({example})")
    if not (host.startswith("localhost") or "." in host or ":" in host):
        raise ReleaseError(f"REGISTRY={text!r}: {host!r} is not a registry host (it needs a dot, a port or to be "
                           f"localhost; {example})")
    if not re.fullmatch(rf"{COMPONENT}(?:/{COMPONENT})*", namespace):
        raise ReleaseError(f"REGISTRY={text!r}: the namespace {namespace!r} must be lowercase letters, digits and "
                           f"separators (. _ -) between /")
    return Registry(host, namespace)


@dataclass
class Publication:
    """One image of one Python, on every asked platform, and the tags it is to get."""
    image: str
    python: str
    local: dict[str, str]  # platform name -> local tag
    ids: dict[str, str]  # platform name -> image ID (= the config digest in the registry)
    tags: list[str]
    dated: str  # the date tag among `tags`


def _docker(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *arguments], capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _checked(*arguments: str) -> str:
    result = _docker(*arguments)
    if result.returncode != 0:
        why = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise ReleaseError(f"`docker {' '.join(arguments)}` failed: {why}")
    return result.stdout


def remote_content(ref: str, insecure: bool) -> dict[str, str] | None:
    """What `ref` names in the registry, platform -> config digest; None when the tag does not exist."""
    result = _docker("manifest", "inspect", *(["--insecure"] if insecure else []), "--verbose", ref)
    if result.returncode != 0:
        message = result.stderr.strip()
        if re.search(r"no such manifest|manifest unknown|not found", message, re.IGNORECASE):
            return None
        raise ReleaseError(f"cannot read {ref} from the registry: {message.splitlines()[-1] if message else 'no output'}")
    entries = json.loads(result.stdout)
    content: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else [entries]:
        platform = entry["Descriptor"].get("platform") or {}
        name = f"{platform.get('os', 'linux')}/{platform.get('architecture', '?')}"
        content[name] = entry["SchemaV2Manifest"]["config"]["digest"]
    return content


def with_parents(images: list[str]) -> list[str]:
    """The images named and their parents, in the family's order (parents first)."""
    wanted = {part for image in images for part in project.lineage(image)}
    return [image for image in project.IMAGES if image in wanted]


def plan(registry: Registry, pythons: list[str], targets: list[platforms.Platform], built: set[str],
         images: list[str] = project.IMAGES) -> list[Publication]:
    """Every (image, Python) built for all `targets`, with its tags."""
    publications = []
    for python in pythons:
        for image in images:
            local = {p.name: platforms.local_ref(image, python, p) for p in targets}
            missing = [name for name, ref in local.items() if ref not in built]
            if missing:
                if len(missing) < len(local):
                    raise ReleaseError(f"{image} py{python} was built for some platforms only: not {', '.join(missing)}")
                print(f"[{image} py{python}] not pushed: not built for this Python (see above)", flush=True)
                continue
            ids = {name: _checked("image", "inspect", "--format", "{{.Id}}", ref).strip() for name, ref in local.items()}
            dated = f"py{python}-{project.source_day(image)}"
            tags = [f"py{python}", dated] + (["latest"] if python == project.DEFAULT_PYTHON else [])
            publications.append(Publication(image, python, local, ids, tags, dated))
    return publications


def check_dated(registry: Registry, publications: list[Publication], force: bool, keep: bool) -> None:
    """Stop (or, with `keep`, drop that tag) where a date tag already names other content."""
    conflicts = []
    for pub in publications:
        ref = f"{registry.repository(pub.image)}:{pub.dated}"
        there = remote_content(ref, registry.insecure)
        if there is None or there == pub.ids:
            continue
        if keep:
            pub.tags.remove(pub.dated)
            print(f"[{pub.image} py{pub.python}] {ref} names other content; left as it is (KEEP_DATED=1)", flush=True)
        elif force:
            print(f"[{pub.image} py{pub.python}] {ref} names other content; moved (FORCE=1)", flush=True)
        else:
            conflicts.append(ref)
    if conflicts:
        raise ReleaseError(f"{', '.join(conflicts)} already in the registry with other content, and a date tag never "
                           f"moves: push on a later source day, or FORCE=1 to move it (KEEP_DATED=1 pushes the rest)")


def publish(registry: Registry, pub: Publication, targets: list[platforms.Platform]) -> None:
    """Push one image per platform, then one manifest list per tag over them."""
    started = time.monotonic()
    repository = registry.repository(pub.image)
    insecure = ["--insecure"] if registry.insecure else []
    per_platform = []
    for platform in targets:
        staged = f"{repository}:py{pub.python}-{platform.arch}"
        _checked("tag", pub.local[platform.name], staged)
        try:
            _checked("push", staged)
        finally:
            _docker("rmi", staged)  # the registry's name leaves no local tag behind
        per_platform.append(staged)
    for tag in pub.tags:
        listed = f"{repository}:{tag}"
        _docker("manifest", "rm", listed)  # a list left from an earlier, failed run
        _checked("manifest", "create", *insecure, listed, *per_platform)
        _checked("manifest", "push", *insecure, "--purge", listed)
    print(f"[{pub.image} py{pub.python}] pushed {repository}:{{{','.join(pub.tags)}}} for "
          f"{', '.join(p.name for p in targets)} in {time.monotonic() - started:.0f}s", flush=True)


def push(registry: Registry, pythons: list[str], targets: list[platforms.Platform], force: bool, keep: bool,
         images: list[str] = project.IMAGES) -> int:
    outcome = build.build(images, pythons, verbose=False, targets=targets)
    if outcome.failed:
        raise ReleaseError(f"the build failed ({' '.join(outcome.failed)}), so nothing was pushed")
    publications = plan(registry, pythons, targets, set(outcome.built), images)
    if not publications:
        raise ReleaseError(f"nothing to push: no image was built for Python {', '.join(pythons)}")
    check_dated(registry, publications, force, keep)
    print(f"\npushing {len(publications)} images to {registry.host}/{registry.namespace} "
          f"for {', '.join(p.name for p in targets)}", flush=True)
    for pub in publications:
        publish(registry, pub, targets)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default="", help="host[:port]/namespace, e.g. 127.0.0.1:5000/acme")
    parser.add_argument("--python", action="append", choices=project.PYTHONS,
                        help="a Python version (repeatable; default: every supported one)")
    parser.add_argument("--platforms", default="", metavar="LIST",
                        help="comma-separated platforms, e.g. linux/amd64,linux/arm64 (default: the host's)")
    parser.add_argument("--image", action="append", choices=project.IMAGES,
                        help="push this image and its parents only (repeatable; default: every image)")
    parser.add_argument("--force", action="store_true", help="move a date tag that names other content")
    parser.add_argument("--keep-dated", action="store_true", help="leave such a date tag and push the rest")
    options = parser.parse_args()
    try:
        if options.force and options.keep_dated:
            raise ReleaseError("FORCE=1 and KEEP_DATED=1 contradict each other: give one")
        registry = parse_registry(options.registry)
        targets = platforms.parse(options.platforms)
        return push(registry, options.python or project.PYTHONS, targets, options.force, options.keep_dated,
                    with_parents(options.image or project.IMAGES))
    except (ReleaseError, platforms.Unsupported) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
