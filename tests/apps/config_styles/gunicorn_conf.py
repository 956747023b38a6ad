# A standalone config as tiangolo's README shows one: it imports nothing of the image's.
import json
import multiprocessing
import os

workers_per_core = float(os.getenv("WORKERS_PER_CORE", "1"))
web_concurrency = int(os.getenv("WEB_CONCURRENCY", "0")) or max(int(workers_per_core * multiprocessing.cpu_count()), 2)

loglevel = os.getenv("LOG_LEVEL", "info")
workers = web_concurrency
bind = os.getenv("BIND") or f"{os.getenv('HOST', '0.0.0.0')}:{os.getenv('PORT', '80')}"
keepalive = 120
errorlog = "-"

log_data = {"loglevel": loglevel, "workers": workers, "bind": bind, "style": "standalone"}
print(json.dumps(log_data))
