#!/bin/sh
# Verify the patched Meinheld on one Python, end to end, with Docker:
#
#   sh flask/meinheld/verify/run.sh 3.13
#
# 1. build the wheel with ../build.sh in the full image (gcc, headers), as the flask Dockerfile does;
# 2. in the slim image (no compiler) make a venv with Gunicorn, Flask and greenlet 3.x and install the
#    wheel with --no-deps, as the final image does;
# 3. serve app.py with `gunicorn -k meinheld.gmeinheld.MeinheldWorker` and run hostile.py (raw hostile
#    requests, then the same split into 1-byte segments; no crash, no hidden request, right refusals)
#    and functional.py (big and streamed bodies, slow readers, 64 keep-alive clients, SIGTERM exit 0).
#
# Images: FULL_IMAGE (default local/python:VERSION) and SLIM_IMAGE (default local/python:VERSION-slim).
# pip reaches the index with the CA bundle in CA_BUNDLE (default: the host's). GUNICORN_SPEC picks
# Gunicorn (default gunicorn==27.0.1). Containers are named mh-verify-*; exit status 1 on any failure.
set -eu

if [ "$#" -ne 1 ]; then
    echo "usage: sh run.sh PYTHON_VERSION" >&2
    exit 2
fi
py=$1
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
meinheld_dir=$(dirname -- "$here")
full=${FULL_IMAGE:-local/python:$py}
slim=${SLIM_IMAGE:-local/python:$py-slim}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
gunicorn_spec=${GUNICORN_SPEC:-gunicorn==27.0.1}
name="mh-verify-$(echo "$py" | tr -d .)-$$"

work=$(mktemp -d)
cleanup() {
    docker rm -f "$name-build" "$name" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
mkdir "$work/pip" "$work/wheels"
cp "$ca" "$work/pip/ca.crt"
printf '[global]\ncert = /tmp/pip-net/ca.crt\n' > "$work/pip/pip.conf"

echo "== python $py: building the wheel in $full"
docker run --rm --name "$name-build" \
    -v "$work/pip:/tmp/pip-net:ro" -e PIP_CONFIG_FILE=/tmp/pip-net/pip.conf \
    -v "$meinheld_dir:/tmp/meinheld-build:ro" -v "$work/wheels:/wheels" \
    "$full" sh /tmp/meinheld-build/build.sh /wheels

echo "== python $py: serving it from $slim"
docker run --rm --name "$name" \
    -v "$work/pip:/tmp/pip-net:ro" -e PIP_CONFIG_FILE=/tmp/pip-net/pip.conf \
    -v "$work/wheels:/wheels:ro" -v "$here:/verify:ro" -e PYTHONDONTWRITEBYTECODE=1 \
    -e GUNICORN_SPEC="$gunicorn_spec" \
    "$slim" sh -c '
set -u
python3 -m venv /opt/venv
/opt/venv/bin/pip install --quiet --disable-pip-version-check "$GUNICORN_SPEC" flask "greenlet>=3,<4" || exit 1
/opt/venv/bin/pip install --quiet --disable-pip-version-check --no-deps /wheels/*.whl || exit 1
/opt/venv/bin/python -c "import sys, gunicorn, greenlet, meinheld; print(\"python\", sys.version.split()[0], \"gunicorn\", gunicorn.__version__, \"greenlet\", greenlet.__version__, \"meinheld\", meinheld.__version__)"
cd /verify || exit 1
rc=0
HITS_LOG=/tmp/hits.log /opt/venv/bin/gunicorn -k meinheld.gmeinheld.MeinheldWorker -w 1 -b 127.0.0.1:8000 \
    app:app >/tmp/hostile.log 2>&1 &
server=$!
echo "-- hostile requests"
/opt/venv/bin/python hostile.py 127.0.0.1 8000 /tmp/hits.log /tmp/hostile.log || rc=1
echo "-- hostile requests, 1-byte segments"
SPLIT=1 /opt/venv/bin/python hostile.py 127.0.0.1 8000 /tmp/hits.log /tmp/hostile.log || rc=1
kill -TERM "$server"; wait "$server"
HITS_LOG=/tmp/hits2.log /opt/venv/bin/gunicorn -k meinheld.gmeinheld.MeinheldWorker -w 2 -b 127.0.0.1:8001 \
    app:app >/tmp/functional.log 2>&1 &
server=$!
echo "-- functional"
/opt/venv/bin/python functional.py 8001 || rc=1
kill -TERM "$server"; wait "$server"; status=$?
echo "gunicorn exit status after SIGTERM: $status"
[ "$status" -eq 0 ] || rc=1
if grep -E "SIGSEGV|SIGABRT|exited with code|Traceback" /tmp/functional.log; then rc=1; fi
exit $rc'
echo "== python $py: all checks passed"
