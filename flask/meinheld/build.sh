#!/bin/sh
# Build the patched Meinheld wheel for the python3 of this image.
#
#   sh build.sh OUTPUT_DIR
#
# Downloads the Meinheld source distribution (version in ./VERSION, checked against the sha256 in
# ./SHA256 before any of its code runs), applies ./patches/*.patch in order, builds a wheel against
# greenlet 3.x (whose C API header the build needs), smoke-tests it, and copies exactly that one wheel
# into OUTPUT_DIR. Needs gcc, libc6-dev, patch, the python3.X headers and python3 -m venv; pip reaches
# the index through the usual PIP_* settings (PIP_CONFIG_FILE, PIP_CONSTRAINT to pin greenlet or
# setuptools). Everything else happens in a temporary directory that is removed afterwards.
# To move to another Meinheld release, change VERSION and SHA256 together and re-check the patches.
set -eu

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: sh build.sh OUTPUT_DIR" >&2
    exit 2
fi
out=$1
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
version=$(tr -d ' \n' < "$here/VERSION")
sha256=$(tr -d ' \n' < "$here/SHA256")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

echo "meinheld $version: build tools for $(python3 -c 'import sys; print(sys.version.split()[0])')"
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --no-cache-dir --disable-pip-version-check --upgrade pip
"$py" -m pip install --quiet --no-cache-dir setuptools wheel 'greenlet>=3,<4'

echo "meinheld $version: source distribution, sha256 $sha256"
printf 'meinheld==%s --hash=sha256:%s\n' "$version" "$sha256" > "$work/requirements.txt"
"$py" -m pip download --quiet --no-cache-dir --disable-pip-version-check --no-deps --no-binary :all: \
    --no-build-isolation --require-hashes --requirement "$work/requirements.txt" --dest "$work/sdist"
sdist="$work/sdist/meinheld-$version.tar.gz"
echo "$sha256  $sdist" | sha256sum -c -

tar -xzf "$sdist" -C "$work"
src="$work/meinheld-$version"
for patch_file in "$here"/patches/*.patch; do
    echo "meinheld $version: applying $(basename "$patch_file")"
    patch --directory="$src" --strip=1 --batch --fuzz=0 --no-backup-if-mismatch --quiet < "$patch_file"
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
