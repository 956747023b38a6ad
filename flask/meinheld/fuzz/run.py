"""make fuzz: libFuzzer with ASan and UBSan on the patched Meinheld request parser.

    python3 flask/meinheld/fuzz/run.py [--seconds N] [--regressions-only]

1. The source: the hash-checked sdist with patches/series applied (../source.py, the same inputs as the image).
2. The target: fuzz_request.c with the parser files and an embedded CPython (Debian's clang, python3-dev).
3. The regression run: every hostile corpus case (tests/hostile/hostile_cases.py) and every input in
   regressions/, each sent whole, one byte per read and split at every point (short ones).
4. N seconds of fuzzing (default 300), seeded from the same inputs plus the corpus kept in .build/.

Exit status 1 on any finding: the input is saved under .build/meinheld/fuzz/findings/ and its path printed.
A finding is fixed with a new patch in patches/ and a case in tests/hostile/hostile_cases.py; the input
goes into regressions/. The last line sums up executions, coverage (libFuzzer's cov and ft) and CPU time.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import source  # noqa: E402

sys.path.insert(0, str(source.ROOT / "tests" / "hostile"))
import hostile_cases  # noqa: E402

WORK = source.CACHE / "fuzz"
MAX_LEN = 16384  # above every limit the parser has (8 KiB fields, path and query)
EVERY_SPLIT_MAX = 2048  # the regression run tries every split point of inputs up to this long
PARSER_FILES = ("http_parser.c", "http_request_parser.c", "request.c", "buffer.c", "client.c")
FLAGS = ["-g", "-O1", "-fno-omit-frame-pointer", "-fsanitize=fuzzer,address,undefined",
         "-fno-sanitize-recover=all", "-DHTTP_PARSER_DEBUG=0", "-Wno-macro-redefined"]
fuzz_cpu = 0.0  # CPU seconds of the target's runs (not of pip or clang)
SANITIZERS = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:symbolize=1:detect_stack_use_after_return=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def fail(message: str) -> NoReturn:
    print(f"fuzz: {message}", file=sys.stderr)
    sys.exit(2)


def tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        fail(f"{name} not found: {hint}")
    return path


def build(target: Path) -> None:
    """Compile the target from a freshly patched tree (a minute at most)."""
    clang = tool("clang", "apt-get install clang (Debian's clang ships libFuzzer)")
    config = "/usr/bin/python3-config" if Path("/usr/bin/python3-config").exists() else tool(
        "python3-config", "apt-get install python3-dev")
    python: dict[str, list[str]] = {}
    for what in ("--includes", "--ldflags"):
        result = subprocess.run([config, what, "--embed"], capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"{config} {what} --embed failed: {result.stderr.strip()} (apt-get install python3-dev)")
        python[what] = result.stdout.split()
    server = source.patched_tree(WORK / "src") / "meinheld" / "server"
    command = [clang, *FLAGS, *python["--includes"], f"-I{server}", str(HERE / "fuzz_request.c"),
               *[str(server / name) for name in PARSER_FILES], *python["--ldflags"], "-o", str(target)]
    print(f"fuzz: building {target.relative_to(source.ROOT)} ({len(source.series())} patches, ASan+UBSan)",
          flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        fail("the fuzz target did not compile")


def seeds(dest: Path) -> int:
    """The hostile corpus as files: each case's bytes, slow and streamed ones with a few of their pieces."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for case in hostile_cases.CASES:
        data = case.raw.replace(hostile_cases.NONCE, b"0123456789ab")
        if case.kind in (hostile_cases.TRICKLE, hostile_cases.STREAM):
            data += case.piece * max(1, min(8, MAX_LEN // max(1, len(case.piece))))
        (dest / case.id).write_bytes(data[:MAX_LEN])
    for path in sorted((HERE / "regressions").glob("*")):
        if path.is_file() and not path.name.startswith("."):
            shutil.copyfile(path, dest / f"regression-{path.name}")
    return len(list(dest.iterdir()))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def libfuzzer(target: Path, args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run the target; its output goes to the terminal and to `log`."""
    global fuzz_cpu
    started = cpu_seconds()
    with log.open("w") as out:
        process = subprocess.Popen([str(target), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env={**os.environ, **SANITIZERS, **env}, text=True, errors="replace")
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if not re.match(r"^(#\d+\s+(NEW|REDUCE)\s|Running: |Executed )", line):
                print(f"  {line.rstrip()}", flush=True)
        process.wait()
    fuzz_cpu += cpu_seconds() - started
    return process.returncode, log.read_text(errors="replace")


def stat(text: str, name: str) -> int:
    found = re.findall(rf"stat::{name}:\s+(\d+)", text)
    return int(found[-1]) if found else 0


def report_finding(text: str) -> None:
    saved = re.findall(r"Test unit written to (\S+)", text)
    what = re.findall(r"(FINDING: .*|ERROR: AddressSanitizer: .*|runtime error: .*|ERROR: LeakSanitizer: .*)", text)
    print(f"\nfuzz: FINDING: {what[0] if what else 'the target crashed'}", file=sys.stderr)
    for path in saved:
        print(f"fuzz: input saved to {path}\n      replay: {WORK / 'fuzz_request'} {path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS") or 300))
    parser.add_argument("--regressions-only", action="store_true", help="the regression run, no fuzzing")
    options = parser.parse_args()
    started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    findings, corpus = WORK / "findings", WORK / "corpus"
    findings.mkdir(exist_ok=True)
    corpus.mkdir(exist_ok=True)
    target = WORK / "fuzz_request"
    build(target)
    seed_count = seeds(WORK / "seeds")
    common = [f"-artifact_prefix={findings}/", f"-max_len={MAX_LEN}", f"-dict={HERE / 'http.dict'}",
              "-timeout=20", "-rss_limit_mb=4096", "-print_final_stats=1"]

    print(f"fuzz: regression run: {seed_count} inputs, whole, byte by byte and split at every point", flush=True)
    code, text = libfuzzer(target, [*common, "-runs=0", str(WORK / "seeds")],
                           {"FUZZ_EVERY_SPLIT": str(EVERY_SPLIT_MAX)}, WORK / "regressions.log")
    executions = stat(text, "number_of_executed_units")
    if code != 0:
        report_finding(text)
        return 1
    cov = ft = "0"
    if not options.regressions_only and options.seconds > 0:
        print(f"fuzz: fuzzing for {options.seconds}s (corpus {corpus.relative_to(source.ROOT)})", flush=True)
        code, text = libfuzzer(target, [*common, f"-max_total_time={options.seconds}", str(corpus),
                                        str(WORK / "seeds")], {}, WORK / "fuzz.log")
        executions += stat(text, "number_of_executed_units")
        if code != 0:
            report_finding(text)
            return 1
    done = re.findall(r"#\d+\s+\w+\s+cov: (\d+) ft: (\d+)", text)
    if done:
        cov, ft = done[-1]
    print(f"fuzz: no finding: {executions} executions, cov {cov}, ft {ft}, "
          f"{fuzz_cpu:.0f}s CPU, {time.monotonic() - started:.0f}s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
