# The bench image: an image under test, unchanged, plus the servers a user would pick instead of its
# default (uWSGI and Granian, pinned in bench/requirements.txt) and the bench app in /app. Every server
# in a comparison then runs the same app on the same Python and packages.
# Built by bench/images.py from a context it assembles in .build/bench/ (pip/, requirements.txt, app/).
ARG IMAGE
ARG PYTHON_BUILD_IMAGE

# uWSGI ships no binary wheels: compile one where gcc and the Python headers are. Its optional extras
# stay off so the binary runs on a slim image, and the libpython it links is carried along (a slim
# Debian Python has no shared libpython; the official images do, and get the same file back).
FROM ${PYTHON_BUILD_IMAGE} AS uwsgi
ENV PIP_CONFIG_FILE=/tmp/pip-net/pip.conf \
    UWSGI_PROFILE_OVERRIDE="ssl=false;xml=false;pcre=false;json=false;yaml=false"
COPY pip/ /tmp/pip-net/
COPY requirements.txt /tmp/requirements.txt
# uWSGI links -lcrypt whatever it embeds (its basic-auth router, compiled empty here as routing is off with
# pcre). From Debian 13 on, libc6-dev no longer brings libcrypt-dev along, so a build image made from Debian's
# packages may have only the run-time libcrypt.so.1: give the linker the name it looks for. The last stage's
# `uwsgi --version` shows the slim image has the run-time library.
RUN if ! echo 'int main(void) { return 0; }' | gcc -x c - -lcrypt -o /dev/null 2>/dev/null; then \
        runtime="$(gcc -print-file-name=libcrypt.so.1)" && ln -s "$runtime" "$(dirname "$runtime")/libcrypt.so"; \
    fi
RUN python3 -m venv /tmp/venv \
 && grep -i '^uwsgi==' /tmp/requirements.txt > /tmp/uwsgi.txt \
 && /tmp/venv/bin/pip wheel --use-pep517 --no-deps --wheel-dir /wheels -r /tmp/uwsgi.txt \
 && /tmp/venv/bin/pip install --no-deps /wheels/*.whl \
 && mkdir /wheels/lib \
 && libpython="$(ldd /tmp/venv/bin/uwsgi | awk '/libpython/ {print $3}')" \
 && if [ -n "$libpython" ]; then cp -L "$libpython" /wheels/lib/; fi

# The pinned servers, added to the image's own virtualenv; pip settings stay in this stage.
FROM ${IMAGE} AS builder
USER root
ENV PIP_CONFIG_FILE=/tmp/pip-net/pip.conf
COPY pip/ /tmp/pip-net/
COPY requirements.txt /tmp/requirements.txt
COPY --from=uwsgi /wheels/ /tmp/wheels/
RUN pip install --prefer-binary --find-links /tmp/wheels -r /tmp/requirements.txt

FROM ${IMAGE}
ARG IMAGE_USER=root
USER root
COPY --from=builder /opt/venv /opt/venv
COPY --from=uwsgi /wheels/lib/ /usr/local/lib/
RUN ldconfig && uwsgi --version && granian --version
COPY app/ /app/
USER ${IMAGE_USER}
