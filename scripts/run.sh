#!/usr/bin/env bash
# Start Keystay locally: migrate, seed the demo on an empty database, then run the web
# server and a django-q2 cluster side by side until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"
HOST="${HOST:-127.0.0.1}"
WEB_PORT="${PORT:-8000}"

# Each process runs in a session of its own (setsid), so that Ctrl-C and a `kill` to this
# script's process group reach this script alone, and it stops them in order: django-q2's
# cluster wants its SIGTERM on its main process only (a SIGTERM to every one of its
# processes at once leaves the main one waiting for minutes), runserver's autoreloader
# and the fake want theirs on every process of their own group.
groups=()
cluster=""

# Does process group $1 still hold a live process? (Zombies do not count: dead, waiting
# for a parent to reap them.)
group_alive() {
    local stat line fields
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        # "pid (comm) state ppid pgrp ...": the command may hold spaces and parentheses.
        read -r -a fields <<<"${line##*) }"
        [ "${fields[2]}" = "$1" ] && [ "${fields[0]}" != Z ] && return 0
    done
    return 1
}

stop() {
    trap - EXIT INT TERM
    local group deadline
    for group in "${groups[@]}"; do
        if [ "$group" = "$cluster" ]; then
            kill -TERM "$group" 2>/dev/null || true
        else
            kill -TERM -- "-$group" 2>/dev/null || true
        fi
    done
    # A cluster worker inside a sweep would finish it first (up to a minute); locally
    # that is not worth the wait: what it was doing is leased and is done again later.
    deadline=$((SECONDS + 3))
    for group in "${groups[@]}"; do
        while group_alive "$group" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -KILL -- "-$group" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

# Without a Seam API key, the demo runs against Seam's official fake server.
if [ -z "${SEAM_API_KEY:-}" ] && ! grep -qs '^SEAM_API_KEY=.' .env; then
    FAKE_PORT="${SEAM_FAKE_PORT:-8787}"
    FAKE_LOG="$(mktemp)"
    # The fake lock confirms each code after 3 s, so the demo shows codes confirmed.
    PORT="$FAKE_PORT" CONTROL_PORT=0 FAKE_SEAM_WATCH_STDIN=0 FAKE_SEAM_AUTO_CONFIRM_MS=3000 \
        setsid node fakeseam/launcher.mjs >"$FAKE_LOG" 2>&1 &
    groups+=($!)
    for _ in $(seq 100); do grep -q FAKE_SEAM_READY "$FAKE_LOG" && break; sleep 0.1; done
    if ! grep -q FAKE_SEAM_READY "$FAKE_LOG"; then
        cat "$FAKE_LOG" >&2
        echo "Seam's fake server did not start." >&2
        exit 1
    fi
    # config/settings/local.py adds SEAM_ENDPOINT to SEAM_ALLOWED_ENDPOINTS: Keystay only
    # calls the servers listed there.
    export SEAM_API_KEY=seam_apikey1_token SEAM_ENDPOINT="http://127.0.0.1:$FAKE_PORT"
    # The demo finishes provider sign-ins through the fake itself (it has no sign-in
    # page), and says on an entrance that the fake cannot take entrance codes.
    export SEAM_FAKE_ENDPOINT="$SEAM_ENDPOINT"
    # The fake confirms codes after 3 s; the demo reads locks and events back every
    # minute (production: every 5 minutes near a stay) so that confirmations show soon.
    export LOCK_RECONCILE_HOT_MINUTES="${LOCK_RECONCILE_HOT_MINUTES:-1}"
    export EVENTS_RECONCILE_INTERVAL_MINUTES="${EVENTS_RECONCILE_INTERVAL_MINUTES:-1}"
    echo "No SEAM_API_KEY: using Seam's fake server at $SEAM_ENDPOINT (key $SEAM_API_KEY)."
fi

# The demo's sample calendar feed is served by Keystay itself, on this machine: the
# outbound guard lets the demo call loopback over plain HTTP (never in production, where
# these stay off unless set). Feeds are read every minute, so changes show soon.
if [ "${KEYSTAY_DEMO:-true}" != "false" ]; then
    export KEYSTAY_OUTBOUND_ALLOW_HTTP="${KEYSTAY_OUTBOUND_ALLOW_HTTP:-true}"
    export KEYSTAY_OUTBOUND_ALLOW_PRIVATE="${KEYSTAY_OUTBOUND_ALLOW_PRIVATE:-true}"
    export KEYSTAY_CALENDAR_FEED_INTERVAL_MINUTES="${KEYSTAY_CALENDAR_FEED_INTERVAL_MINUTES:-1}"
fi

$PY manage.py migrate --noinput
if [ "${KEYSTAY_DEMO:-true}" != "false" ] && [ "$DJANGO_SETTINGS_MODULE" = "config.settings.local" ]; then
    $PY manage.py seed_demo
fi

$PY manage.py ensure_schedules
setsid $PY manage.py qcluster &
cluster=$!
groups+=("$cluster")
setsid $PY manage.py runserver "$HOST:$WEB_PORT" &
web=$!
groups+=("$web")

# Say where Keystay runs once it answers there, not before.
until (exec 3<>"/dev/tcp/$HOST/$WEB_PORT") 2>/dev/null; do
    if ! kill -0 "$web" 2>/dev/null; then
        echo "The web server did not start." >&2
        exit 1
    fi
    sleep 0.2
done
if [ "${KEYSTAY_DEMO:-true}" != "false" ] && [ "$DJANGO_SETTINGS_MODULE" = "config.settings.local" ]; then
    # A listing fed by the sample calendar the web server serves (read at once by the
    # cluster; its stays appear on the timeline by themselves).
    $PY manage.py seed_demo_feed --url "http://$HOST:$WEB_PORT/demo/calendars/airbnb.ics" || true
fi

echo
echo "Keystay runs at http://$HOST:$WEB_PORT/admin/"
if [ "${KEYSTAY_DEMO:-true}" != "false" ]; then
    echo "Demo login: demo / keystay-demo"
fi
echo "Ctrl-C stops everything."
# Stop everything when any one process ends: a half-running app is worse than none.
wait -n
