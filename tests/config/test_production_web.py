"""gunicorn serves Keystay under production settings, as the Procfile starts it: probes
answered over plain HTTP, the app behind the TLS proxy, static files from WhiteNoise
after `collectstatic`, logs on standard output."""

import re
import subprocess
import sys

import httpx
import pytest

from tests.deploy import ROOT, free_port, gunicorn, manage, production_env


@pytest.mark.slow
def test_gunicorn_serves_keystay_under_production_settings(tmp_path, migrated_sqlite):
    env = production_env(
        DATABASE_URL=f"sqlite:///{migrated_sqlite('web.sqlite3')}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
    )
    manage("collectstatic", "--noinput", env=env)
    port = free_port()
    web = gunicorn("web", env=env, log_dir=tmp_path, port=port)
    base = f"http://127.0.0.1:{port}"
    proxied = {"Host": "keystay.example.com", "X-Forwarded-Proto": "https"}
    try:
        # The load balancer's probes: by address, over plain HTTP.
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{base}/healthz/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
        assert httpx.get(f"{base}/healthz/backlog").status_code == 200

        # Anything else over plain HTTP goes to HTTPS; an unknown host is refused.
        plain = httpx.get(f"{base}/admin/login/", headers={"Host": "keystay.example.com"})
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://keystay.example.com/admin/login/"
        assert httpx.get(f"{base}/admin/login/", headers={"Host": "evil.test"}).status_code == 400

        # Behind the proxy: the sign-in page, its stylesheet under a hashed name, served by
        # WhiteNoise with a far-future cache lifetime.
        login = httpx.get(f"{base}/admin/login/", headers=proxied)
        assert login.status_code == 200
        assert login.headers["strict-transport-security"].startswith("max-age=31536000")
        stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text)
        assert stylesheet, login.text[:2000]
        css = httpx.get(base + stylesheet.group(1), headers=proxied)
        assert css.status_code == 200
        assert "immutable" in css.headers["cache-control"]
        assert css.headers["content-type"].startswith("text/css")
    finally:
        web.stop()
    # gunicorn's access log goes to its standard output with the rest.
    assert re.search(r'"GET /healthz/ready HTTP/1.1" 200', web.output(20000))


def test_logs_go_to_standard_output_one_line_per_record(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'log.sqlite3'}")
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import logging; logging.getLogger('reservations').warning('lock 7 is late')",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\S+ \S+ WARNING reservations \[\d+\] lock 7 is late$", done.stdout, re.M)
    assert "lock 7 is late" not in done.stderr
