# The image family, parents before children. Versions, Pythons and the image order live in versions.json;
# the logic lives in tools/*.py, so each rule here is one line.
ORG ?= org
PY ?= $(shell python3 tools/project.py default)
PYTHONS := $(shell python3 tools/project.py pythons)
IMAGES := $(shell python3 tools/project.py images)
VENV := .venv
PYTHON_REPO ?= python
FUZZ_SECONDS ?= 300
SOAK_SECONDS ?= 60
TEST_WORKERS ?= 2
BUILD_JOBS ?= 2
PLATFORMS ?=
export ORG PYTHON_REPO
# A PY given on the command line (or in the environment) narrows build-all and push to that Python.
ONE_PY = $(if $(filter command line environment,$(origin PY)),--python $(PY))

.PHONY: build-all $(addprefix build-,$(IMAGES)) push lock test test-unit lint check-patches fuzz soak bench bench-smoke clean venv

build-all:  ## every image for every supported Python (or PY), in dependency order, for PLATFORMS (default: the host's)
	python3 tools/build.py --platforms "$(PLATFORMS)" --jobs $(BUILD_JOBS) $(ONE_PY)

$(addprefix build-,$(IMAGES)): build-%:  ## one image (and its parents) for PY
	python3 tools/build.py $* --python $(PY) --platforms "$(PLATFORMS)" --jobs $(BUILD_JOBS)

push:  ## build, then push manifest lists to REGISTRY=host[:port]/namespace (every Python, or PY; every image, or ONLY) for PLATFORMS
	python3 tools/release.py --registry "$(REGISTRY)" --platforms "$(PLATFORMS)" $(ONE_PY) $(foreach image,$(ONLY),--image $(image)) \
		$(if $(filter 1,$(FORCE)),--force) $(if $(filter 1,$(KEEP_DATED)),--keep-dated)

lock:  ## regenerate <image>/locks/pyX.Y.txt from <image>/requirements.in
	python3 tools/lock.py

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed

test: venv  ## unit tests, then container tests: full on PY, smoke on every other built Python
	# Most tests wait on containers, so two workers share the 2 cores (tests/conftest.py keeps the tests of
	# one fixture container together); those marked `alone` (load, timing, swarm) run after, by themselves.
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not alone"
	$(VENV)/bin/python -m pytest -m alone

test-unit: venv
	$(VENV)/bin/python -m pytest tests/unit

lint: venv check-patches  ## hadolint, shellcheck, actionlint on the workflows, mypy, the Meinheld patch series
	$(VENV)/bin/hadolint $(addsuffix /Dockerfile,$(IMAGES))
	$(VENV)/bin/shellcheck $$(git ls-files '*.sh') .ci/run
	$(VENV)/bin/actionlint -shellcheck $(VENV)/bin/shellcheck .github/workflows/*.yml
	$(VENV)/bin/mypy shared/gunicorn_image shared/sbom.py
	$(VENV)/bin/mypy tools/*.py
	cd flask/meinheld && ../../$(VENV)/bin/mypy --config-file ../../mypy.ini *.py
	cd flask/meinheld/fuzz && ../../../$(VENV)/bin/mypy --config-file ../../../mypy.ini *.py
	# bench/docker/ holds Dockerfiles: without --no-namespace-packages mypy takes it for the Docker SDK
	cd bench && ../$(VENV)/bin/mypy --config-file ../mypy.ini --no-namespace-packages *.py

check-patches:  ## the Meinheld series applies exactly to the hash-checked sdist; every patch has a DEP-3 header
	python3 flask/meinheld/source.py check

fuzz:  ## libFuzzer + ASan/UBSan on the patched Meinheld parser: regression inputs, then FUZZ_SECONDS of fuzzing
	python3 flask/meinheld/fuzz/run.py --seconds $(FUZZ_SECONDS)

soak: venv  ## each image's default at 256 connections for SOAK_SECONDS: no errors, p99, worker RSS growth (PY)
	SOAK_SECONDS=$(SOAK_SECONDS) TEST_PYTHON=$(PY) $(VENV)/bin/python -m pytest -s tests/reliability/test_soak.py

bench: venv  ## the benchmark: each image against the servers users would pick instead, paired rounds on two Pythons (about an hour)
	$(VENV)/bin/python bench/bench.py

bench-smoke: venv  ## a few seconds per case, so the harness cannot rot (CI runs it; BENCH_IMAGES="starlette" for fewer)
	$(VENV)/bin/python bench/bench.py --smoke $(if $(BENCH_IMAGES),--images $(BENCH_IMAGES))

clean:  ## remove this family's images (every tag) and the build scratch folder
	docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^$(ORG)/($(subst $() ,|,$(IMAGES))):' | xargs -r docker rmi
	rm -rf .build
