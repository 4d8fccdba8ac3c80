#!/usr/bin/env bash
# Start Keystay locally: migrate, seed the demo on an empty database, then run the web
# server and a django-q2 cluster side by side until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

$PY manage.py migrate --noinput
if [ "${KEYSTAY_DEMO:-true}" != "false" ] && [ "$DJANGO_SETTINGS_MODULE" = "config.settings.local" ]; then
    $PY manage.py seed_demo
fi

pids=()
stop() {
    trap - EXIT INT TERM
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

$PY manage.py qcluster &
pids+=($!)
$PY manage.py runserver "$HOST:$PORT" &
pids+=($!)

echo
echo "Keystay runs at http://$HOST:$PORT/admin/  (web pid ${pids[1]}, qcluster pid ${pids[0]})"
if [ "${KEYSTAY_DEMO:-true}" != "false" ]; then
    echo "Demo login: demo / keystay-demo"
fi
echo "Ctrl-C stops everything."
# Stop everything when any one process ends: a half-running app is worse than none.
wait -n
