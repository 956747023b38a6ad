# The yardstick for org/flask's size: minimal.Dockerfile plus the same patched Meinheld, compiled from
# the same source (flask/meinheld/) with the same script, in a stage that has gcc.
ARG PYTHON_IMAGE
ARG PYTHON_BUILD_IMAGE

FROM ${PYTHON_BUILD_IMAGE} AS meinheld
ENV PIP_CONFIG_FILE=/tmp/pip-net/pip.conf
COPY pip/ /tmp/pip-net/
COPY meinheld/ /tmp/meinheld-build/
COPY requirements.txt /tmp/requirements.txt
RUN sh /tmp/meinheld-build/build.sh /wheels /tmp/requirements.txt

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_CONFIG_FILE=/tmp/pip-net/pip.conf
COPY pip/ /tmp/pip-net/
COPY requirements.txt /tmp/requirements.txt
COPY --from=meinheld /wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps --prefer-binary -r /tmp/requirements.txt /tmp/wheels/*.whl

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
CMD ["gunicorn", "--bind", "0.0.0.0:80", "--worker-class", "meinheld.gmeinheld.MeinheldWorker", "main:app"]
