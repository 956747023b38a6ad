"""A user of each tiangolo image changes only the FROM line (README "Moving from tiangolo's images").

`MIGRATIONS` is the README's migration table as data: each tiangolo image, the image of ours that replaces it, and
the worker name Gunicorn prints. Each case builds a user's Dockerfile written for the tiangolo image
(`FROM <ours>` + `COPY ./app /app`, and `RUN pip install` where their app needs an older framework) from a fixture
tree in tests/apps/tiangolo/, runs it with their `docker run -e ...` habits, and checks the answer and their log
lines. The full set runs on the default Python; one case per image runs on every other built Python.
"""

from __future__ import annotations

import pytest
import requests
from docker_support import TEST_PYTHON, build_app_image, project, require_image, run_container
from test_operations import PIP_INSTALL, build_downstream
from test_runtime_contract import explain, using_worker

# tiangolo image -> (our image, what "Using worker:" says on ours)
MIGRATIONS = {
    "tiangolo/uvicorn-gunicorn": ("uvicorn", "uvicorn_worker.UvicornWorker"),
    "tiangolo/uvicorn-gunicorn-fastapi": ("fastapi", "uvicorn_worker.UvicornWorker"),
    "tiangolo/uvicorn-gunicorn-starlette": ("starlette", "uvicorn_worker.UvicornWorker"),
    "tiangolo/meinheld-gunicorn-flask": ("flask", "meinheld.gmeinheld.MeinheldWorker"),
    "tiangolo/meinheld-gunicorn": ("flask", "meinheld.gmeinheld.MeinheldWorker"),
}
# Older framework versions a user's requirements.txt may pin, installed over the image's own.
OLD_PINS = {
    "starlette": "starlette==0.27.0",  # the last Starlettes with @app.route, which tiangolo's example uses
    "fastapi": "fastapi==0.100.1",
    "flask": "flask==2.3.3",
}

# (tiangolo image, fixture, environment, text in the answer, old pin needed)
ASGI_HABITS = [  # their uvicorn-gunicorn tests' shapes, which hold on every ASGI image of theirs
    ("asgi2_app", {}, "Hello world! ASGI 2 on Python"),
    ("asgi2_package", {}, "Hello world! ASGI 2 package on Python"),
    ("custom_module", {"MODULE_NAME": "custom_app.custom_main", "VARIABLE_NAME": "custom_var"}, "From a custom module"),
    ("custom_module", {"APP_MODULE": "custom_app.custom_main:custom_var"}, "From a custom module"),
    ("custom_config", {}, "With a custom config"),
]
CASES = [
    *((tiangolo, fixture, env, text, None) for tiangolo in ("tiangolo/uvicorn-gunicorn",
                                                             "tiangolo/uvicorn-gunicorn-fastapi",
                                                             "tiangolo/uvicorn-gunicorn-starlette")
      for fixture, env, text in ASGI_HABITS),
    ("tiangolo/uvicorn-gunicorn-fastapi", "fastapi_app", {}, "From FastAPI running on Uvicorn with Gunicorn", None),
    ("tiangolo/uvicorn-gunicorn-fastapi", "fastapi_app", {}, "From FastAPI running on Uvicorn with Gunicorn",
     OLD_PINS["fastapi"]),
    ("tiangolo/uvicorn-gunicorn-starlette", "starlette_app", {}, "From Starlette running on Uvicorn with Gunicorn",
     OLD_PINS["starlette"]),
    ("tiangolo/meinheld-gunicorn-flask", "flask_app", {}, "Hello World from Flask", None),
    ("tiangolo/meinheld-gunicorn-flask", "flask_app", {}, "Hello World from Flask", OLD_PINS["flask"]),
    ("tiangolo/meinheld-gunicorn", "wsgi_app", {"WORKERS_PER_CORE": "3"}, "with Meinheld and Gunicorn", None),
]


def case_id(case: tuple) -> str:
    tiangolo, fixture, env, _, pin = case
    return "-".join([tiangolo.split("/")[1], fixture, *env, *([pin] if pin else [])])


def users_image(image: str, fixture: str, pin: str | None, python: str = TEST_PYTHON) -> str:
    """`FROM <ours>`, `COPY ./app /app`, and `RUN pip install <pin>` when the user pins an older framework."""
    ref = require_image(image, python)
    if pin is None:
        return build_app_image(ref, f"tiangolo/{fixture}")
    return build_downstream(ref, f"tiangolo/{fixture}", f"RUN {PIP_INSTALL} --no-cache-dir '{pin}'")


def check_served_like_tiangolos(server, text: str, worker: str, prestart: bool) -> None:
    answer = server.wait_http("/", timeout=60)
    assert answer.status_code == 200 and text in answer.text, explain(
        server, f"expected 200 with {text!r}, got {answer.status_code}: {answer.text[:200]}")
    logs = server.logs()
    expected = ["Checking for script in /app/prestart.sh", "Starting gunicorn", "Listening at: http://0.0.0.0:80",
                "Booting worker with pid"]
    expected.append("Running script /app/prestart.sh" if prestart else "There is no script /app/prestart.sh")
    for line in expected:
        assert line in logs, explain(server, f"expected the line {line!r}")
    assert set(using_worker(logs)) == {worker}, explain(server, f"expected `Using worker: {worker}`")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_tiangolo_users_app_and_habits_work_on_the_image_that_replaces_it(case: tuple) -> None:
    tiangolo, fixture, env, text, pin = case
    image, worker = MIGRATIONS[tiangolo]
    with run_container(users_image(image, fixture, pin), env) as server:
        check_served_like_tiangolos(server, text, worker, prestart=fixture == "asgi2_app")
        if fixture == "asgi2_app":
            assert "Running inside /app/prestart.sh" in server.logs(), explain(server, "the prestart's output")
        if fixture == "custom_config":
            assert '"custom_config": true' in server.logs(), explain(server, "the user's config was not loaded")


SMOKE = [pytest.param(tiangolo, python, id=f"{tiangolo.split('/')[1]}-py{python}")
         for tiangolo in MIGRATIONS for python in project.PYTHONS if python != TEST_PYTHON]
SMOKE_FIXTURE = {"tiangolo/uvicorn-gunicorn": ("asgi2_app", "ASGI 2 on Python"),
                 "tiangolo/uvicorn-gunicorn-fastapi": ("fastapi_app", "From FastAPI"),
                 "tiangolo/uvicorn-gunicorn-starlette": ("asgi2_app", "ASGI 2 on Python"),
                 "tiangolo/meinheld-gunicorn-flask": ("flask_app", "Hello World from Flask"),
                 "tiangolo/meinheld-gunicorn": ("wsgi_app", "with Meinheld and Gunicorn")}


@pytest.mark.parametrize(("tiangolo", "python"), SMOKE)
def test_the_replacement_serves_the_tiangolo_app_on_every_python(tiangolo: str, python: str) -> None:
    image, worker = MIGRATIONS[tiangolo]
    fixture, text = SMOKE_FIXTURE[tiangolo]
    with run_container(users_image(image, fixture, None, python)) as server:
        check_served_like_tiangolos(server, text, worker, prestart=fixture == "asgi2_app")


@pytest.mark.parametrize("fixture", ["asgi2_app", "custom_module"])
def test_org_base_serves_an_asgi2_app_with_its_own_asgi_worker(fixture: str) -> None:
    env = {"APP_MODULE": "custom_app.custom_main:custom_var"} if fixture == "custom_module" else {}
    with run_container(build_app_image(require_image("base"), f"tiangolo/{fixture}"), env) as server:
        answer = server.wait_http("/", timeout=60)
        assert answer.status_code == 200 and "Hello world!" in answer.text, explain(server, answer.text[:300])
        assert using_worker(server.logs()) == ["asgi"], explain(server, "expected Gunicorn's asgi worker")
        assert "TypeError" not in server.logs(), explain(server, "the ASGI 2 app was called as ASGI 3")


def test_uvicorns_h11_worker_by_its_old_name_serves_on_org_uvicorn() -> None:
    env = {"WORKER_CLASS": "uvicorn.workers.UvicornH11Worker"}
    with run_container(build_app_image(require_image("uvicorn"), "tiangolo/asgi2_app"), env) as server:
        check_served_like_tiangolos(server, "ASGI 2 on Python", "uvicorn_worker.UvicornH11Worker", prestart=True)


@pytest.mark.parametrize("image", ["uvicorn", "fastapi", "starlette"])
def test_start_reload_on_the_uvicorn_images_runs_uvicorn_with_its_own_lines(image: str) -> None:
    ref = build_app_image(require_image(image), "tiangolo/asgi2_app")
    with run_container(ref, command=["/start-reload.sh"]) as server:
        answer = server.wait_http("/", timeout=60)
        assert answer.status_code == 200 and "ASGI 2 on Python" in answer.text, explain(server, answer.text[:300])
        logs = server.logs()
        for line in ("Uvicorn running on http://0.0.0.0:80", "Started reloader process"):
            assert line in logs, explain(server, f"expected Uvicorn's line {line!r}")
        assert "Starting gunicorn" not in logs, explain(server, "reload ran Gunicorn, not Uvicorn")
        with requests.get(server.url + "/", timeout=10) as again:
            assert again.status_code == 200
