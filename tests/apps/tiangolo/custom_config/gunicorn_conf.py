# A standalone gunicorn_conf.py as tiangolo's README shows one: its own env variables, its own JSON line.
import json
import multiprocessing
import os

workers_per_core = float(os.getenv("WORKERS_PER_CORE", "1"))
default_web_concurrency = max(int(workers_per_core * multiprocessing.cpu_count()), 2)
web_concurrency = int(os.getenv("WEB_CONCURRENCY", "0")) or default_web_concurrency
host = os.getenv("HOST", "0.0.0.0")
port = os.getenv("PORT", "80")
bind = os.getenv("BIND") or f"{host}:{port}"

loglevel = os.getenv("LOG_LEVEL", "info")
workers = web_concurrency
keepalive = 120
errorlog = "-"

print(json.dumps({"custom_config": True, "workers": workers, "bind": bind}))
