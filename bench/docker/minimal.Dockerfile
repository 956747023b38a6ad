# The yardstick for image size: the same pinned packages on the same slim Python, written the shortest
# obvious way (a virtualenv filled in one stage, copied into a clean one). No start layer, no app.
# Built by bench/images.py from a context it assembles in .build/bench/ (pip/, requirements.txt).
ARG PYTHON_IMAGE

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_CONFIG_FILE=/tmp/pip-net/pip.conf
COPY pip/ /tmp/pip-net/
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-deps --prefer-binary -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
CMD ["gunicorn", "--bind", "0.0.0.0:80", "main:app"]
