"""Settings: production refuses to start without its secrets and passes check --deploy."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "keystay.example.com",
    "KEYSTAY_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "KEYSTAY_CODE_LOOKUP_KEY": secrets.token_urlsafe(48),
    "KEYSTAY_PUBLIC_URL": "https://keystay.example.com",
}


def test_production_settings_pass_check_deploy_without_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_guest_links_would_have_no_address():
    env = {k: v for k, v in PRODUCTION.items() if k != "KEYSTAY_PUBLIC_URL"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "guests.W001" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "KEYSTAY_ENCRYPTION_KEY",
        "KEYSTAY_CODE_LOOKUP_KEY",
    ],
)
def test_production_settings_refuse_to_start_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_an_encryption_key_that_is_not_a_fernet_key():
    result = manage("check", **{**PRODUCTION, "KEYSTAY_ENCRYPTION_KEY": "not-a-key"})
    assert result.returncode != 0
    assert "KEYSTAY_ENCRYPTION_KEY must hold Fernet keys" in result.stdout + result.stderr


def test_django_q_uses_the_orm_broker_by_default_and_redis_when_configured():
    code = "from django.conf import settings; print(sorted(settings.Q_CLUSTER))"
    default = manage("shell", "-c", code, DJANGO_SETTINGS_MODULE="config.settings.local")
    assert "'orm'" in default.stdout and "'redis'" not in default.stdout, default.stderr
    redis = manage(
        "shell",
        "-c",
        code,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert "'redis'" in redis.stdout and "'orm'" not in redis.stdout, redis.stderr


def test_models_and_migrations_agree():
    result = manage(
        "makemigrations", "--check", "--dry-run", DJANGO_SETTINGS_MODULE="config.settings.test"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_passes_with_the_default_proxy_and_warns_when_settings_disagree():
    """Production counts one proxy and trusts it for HTTPS: no warning. No proxy counted
    while one is trusted for HTTPS, or a public address for gunicorn while a proxy is
    counted: the deploy check says so."""
    none_counted = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, KEYSTAY_NUM_PROXIES="0"
    )
    assert none_counted.returncode != 0
    assert "core.W002" in none_counted.stdout + none_counted.stderr
    public = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, WEB_BIND="93.184.216.34"
    )
    assert public.returncode != 0
    assert "core.W003" in public.stdout + public.stderr
    private = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, WEB_BIND="10.0.0.5"
    )
    assert private.returncode == 0, private.stdout + private.stderr
    # DRF's throttles read the address by the same count as the rest of Keystay.
    code = "from django.conf import settings; print(settings.REST_FRAMEWORK['NUM_PROXIES'])"
    counted = manage("shell", "-c", code, **PRODUCTION, KEYSTAY_NUM_PROXIES="2")
    assert counted.stdout.strip().splitlines()[-1] == "2", counted.stderr
