#!/bin/sh
# Build the patched Meinheld wheel for the python3 of this image.
#
#   sh build.sh OUTPUT_DIR LOCK_FILE
#
# Downloads the Meinheld source distribution (version in ./VERSION, checked against the sha256 in
# ./SHA256 before any of its code runs), applies the patches listed in ./patches/series in order,
# builds a wheel, smoke-tests it, and copies exactly that one wheel into OUTPUT_DIR. The build tools are
# pinned in ./build-requirements.txt; greenlet, whose C API header the build compiles against, is the
# one LOCK_FILE (the image's flask/locks/pyX.Y.txt) pins, so the wheel matches the greenlet it runs with.
# Needs gcc, libc6-dev, patch, the python3.X headers and python3 -m venv; pip reaches the index through
# the usual PIP_* settings. Everything else happens in a temporary directory that is removed afterwards.
# To move to another Meinheld release, change VERSION and SHA256 together and run make check-patches.
set -eu

if [ "$#" -ne 2 ] || [ -z "$1" ] || [ ! -f "$2" ]; then
    echo "usage: sh build.sh OUTPUT_DIR LOCK_FILE" >&2
    exit 2
fi
out=$1
lock=$2
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
version=$(tr -d ' \n' < "$here/VERSION")
sha256=$(tr -d ' \n' < "$here/SHA256")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

echo "meinheld $version: build tools for $(python3 -c 'import sys; print(sys.version.split()[0])')"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --no-cache-dir --disable-pip-version-check \
    --requirement "$here/build-requirements.txt" --constraint "$lock" greenlet

echo "meinheld $version: source distribution, sha256 $sha256"
printf 'meinheld==%s --hash=sha256:%s\n' "$version" "$sha256" > "$work/requirements.txt"
"$py" -m pip download --quiet --no-cache-dir --disable-pip-version-check --no-deps --no-binary :all: \
    --no-build-isolation --require-hashes --requirement "$work/requirements.txt" --dest "$work/sdist"
sdist="$work/sdist/meinheld-$version.tar.gz"
echo "$sha256  $sdist" | sha256sum -c -

tar -xzf "$sdist" -C "$work"
src="$work/meinheld-$version"
sed -e 's/#.*//' "$here/patches/series" | while read -r name _; do
    [ -n "$name" ] || continue
    echo "meinheld $version: applying $name"
    patch --directory="$src" --strip=1 --batch --fuzz=0 --no-backup-if-mismatch --quiet < "$here/patches/$name"
done

echo "meinheld $version: building the wheel"
"$py" -m pip wheel --quiet --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation \
    --wheel-dir "$work/wheel" "$src"
set -- "$work"/wheel/meinheld-"$version"-*.whl
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "meinheld $version: expected one wheel, found: $*" >&2
    exit 1
fi
wheel=$1

"$py" -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-deps --no-index "$wheel"
"$py" -c 'import meinheld, meinheld.server; print("meinheld", meinheld.__version__, "imports")'
"$py" "$here/smoke_test.py"

mkdir -p "$out"
cp "$wheel" "$out/"
echo "meinheld $version: wrote $out/$(basename "$wheel")"
