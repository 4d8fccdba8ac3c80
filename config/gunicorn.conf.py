"""gunicorn's settings for Keystay's web processes: `gunicorn -c config/gunicorn.conf.py
config.wsgi`. Start as many such processes, on as many machines, as the traffic needs;
each is independent (sessions, the cache and the task queue live in PostgreSQL and Redis).

Environment: PORT (8000), WEB_CONCURRENCY (worker processes, 2), WEB_BIND (the address
to listen on, 0.0.0.0: behind a load balancer), WEB_TIMEOUT (seconds, 30).
"""

import os

bind = f"{os.environ.get('WEB_BIND', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
# A worker is replaced now and then, so that a slow leak never grows for long.
max_requests = 2000
max_requests_jitter = 200
# Access and error logs on standard output, like the app's own (LOGGING), with the token
# of a guest page or invitation link replaced by a marker (config/gunicorn_logging.py).
accesslog = "-"
errorlog = "-"
logger_class = "config.gunicorn_logging.Logger"
# gunicornc's control socket sits at one path per user: several gunicorns on one machine
# would take it from each other, and Keystay does not use it.
control_socket_disable = True
