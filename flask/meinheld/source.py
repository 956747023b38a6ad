"""The Meinheld source the flask image builds: the hash-checked sdist and the patch series on top of it.

    python3 flask/meinheld/source.py check          # make check-patches: headers, series, applies exactly
    python3 flask/meinheld/source.py tree DEST      # the patched source tree, for the fuzzer or by hand

The sdist (VERSION, SHA256) is fetched once with pip, as build.sh fetches it (pinned build-requirements.txt,
--require-hashes), kept in .build/meinheld/ and checked against SHA256 on every use. The series
(patches/series, Debian quilt's format) is applied in order with `patch --fuzz=0`; `check` also refuses a
hunk that only applies at an offset, a patch file the series does not list, and a patch without a DEP-3
header (Description, Origin, Forwarded). No compiler is involved.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PATCHES = HERE / "patches"
SERIES = PATCHES / "series"
CACHE = ROOT / ".build" / "meinheld"
REQUIRED_FIELDS = ("Description", "Origin", "Forwarded")


class SourceError(Exception):
    """The sdist cannot be had or does not match SHA256."""


def version() -> str:
    return (HERE / "VERSION").read_text().strip()


def sha256() -> str:
    return (HERE / "SHA256").read_text().strip()


def series(text: str | None = None) -> list[str]:
    """Patch names in order: one a line; blank lines and `#` comments ignored; quilt's `-p1` allowed."""
    text = SERIES.read_text() if text is None else text
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, *options = line.split()
        if options not in ([], ["-p1"]):
            raise ValueError(f"series: {line!r}: only -p1 patches are supported")
        names.append(name)
    return names


@dataclass
class Header:
    fields: dict[str, str]
    problems: list[str]


def dep3_header(text: str) -> Header:
    """The DEP-3 fields before the first diff line (`Field: value`, continuation lines start with a space)."""
    fields: dict[str, str] = {}
    problems: list[str] = []
    last = ""
    for line in text.splitlines():
        if line.startswith(("---", "diff ", "Index: ", "+++ ", "@@")):
            break
        if line.startswith((" ", "\t")) and last:
            fields[last] += "\n" + line.strip()
        elif match := re.match(r"^([A-Za-z][A-Za-z-]*):\s*(.*)$", line):
            last = match.group(1)
            if last in fields:
                problems.append(f"field {last} twice")
            fields[last] = match.group(2).strip()
        elif line.strip():
            last = ""
    for name in REQUIRED_FIELDS:
        if not fields.get(name, "").strip():
            problems.append(f"no {name}")
    if "Author" not in fields and "From" not in fields and fields.get("Origin", "").split(",")[0] == "vendor":
        problems.append("no Author (DEP-3 wants one for a vendor patch)")
    return Header(fields, problems)


def _verified(path: Path) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256()


def sdist() -> Path:
    """The sdist, checked against SHA256; fetched with pip into .build/meinheld/ the first time."""
    target = CACHE / f"meinheld-{version()}.tar.gz"
    if _verified(target):
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work_dir:
        work = Path(work_dir)
        venv = work / "venv"
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
        requirements = work / "requirements.txt"
        requirements.write_text(f"meinheld=={version()} --hash=sha256:{sha256()}\n")
        print(f"meinheld {version()}: fetching the source distribution (sha256 {sha256()})", file=sys.stderr)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [*pip, "install", "--requirement", str(HERE / "build-requirements.txt")],
            [*pip, "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", "--require-hashes",
             "--requirement", str(requirements), "--dest", str(work / "sdist")],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode != 0:
                raise SourceError(f"{' '.join(step[:4])} ... failed:\n{result.stdout}{result.stderr}")
        fetched = work / "sdist" / target.name
        if not _verified(fetched):
            raise SourceError(f"{fetched.name} does not match flask/meinheld/SHA256")
        shutil.move(str(fetched), target)
    return target


def pristine(dest: Path) -> Path:
    """Unpack the sdist under dest; returns the source directory."""
    with tarfile.open(sdist()) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: no links or paths out of dest
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return dest / f"meinheld-{version()}"


def apply(tree: Path, name: str) -> list[str]:
    """Apply one patch exactly; returns what went wrong (a failed hunk, fuzz or an offset)."""
    result = subprocess.run(
        ["patch", f"--directory={tree}", "--strip=1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch",
         f"--input={PATCHES / name}"], capture_output=True, text=True)
    output = result.stdout + result.stderr
    problems = [line.strip() for line in output.splitlines()
                if re.search(r"FAILED|offset|fuzz|reject|malformed|can't find|Reversed", line, re.IGNORECASE)]
    if result.returncode != 0 and not problems:
        problems.append(output.strip() or f"patch exit status {result.returncode}")
    return problems


def check() -> list[str]:
    """Every problem with the series: headers, listing, and applying it to the pristine source in order."""
    problems: list[str] = []
    names = series()
    on_disk = {path.name for path in PATCHES.glob("*.patch")}
    for name in sorted(on_disk - set(names)):
        problems.append(f"{name}: not in patches/series")
    for name in names:
        if name not in on_disk:
            problems.append(f"series lists {name}, which does not exist")
        elif names.count(name) > 1:
            problems.append(f"series lists {name} twice")
        else:
            problems += [f"{name}: DEP-3 header: {problem}" for problem in
                         dep3_header((PATCHES / name).read_text(errors="replace")).problems]
    if problems:
        return problems
    with tempfile.TemporaryDirectory() as work:
        tree = pristine(Path(work))
        for name in names:
            problems += [f"{name}: {problem}" for problem in apply(tree, name)]
            if problems:
                break
    return problems


def patched_tree(dest: Path) -> Path:
    """A fresh patched source tree at dest (replaced if present)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    tree = pristine(dest)
    for name in series():
        problems = apply(tree, name)
        if problems:
            raise SourceError(f"{name} does not apply: {'; '.join(problems)}")
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="check the series against the pristine source (make check-patches)")
    tree = commands.add_parser("tree", help="write the patched source tree")
    tree.add_argument("dest", type=Path)
    options = parser.parse_args()
    try:
        if options.command == "tree":
            print(patched_tree(options.dest))
            return 0
        problems = check()
    except (SourceError, ValueError) as error:
        print(f"check-patches: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"check-patches: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-patches: {len(series())} patches apply exactly to meinheld {version()} (sha256 checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
