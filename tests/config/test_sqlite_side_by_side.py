"""The embedded setup: a web process and a qcluster write one SQLite file side by side."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each writer reads, then writes, in one transaction: the pattern of every service.
# Without IMMEDIATE transactions two such writers meet "database is locked" at once,
# because a reader cannot upgrade to a writer after another process has written.
WRITER = """
import django, sys
django.setup()
from django.db import transaction
from properties.models import Organization
tag = sys.argv[1]
for i in range(150):
    with transaction.atomic():
        Organization.objects.filter(name__startswith=tag).count()
        Organization.objects.create(name=f"{tag}-{i}")
print("ok")
"""


def run_env(db_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    env["DATABASE_URL"] = f"sqlite:///{db_path}"
    return env


def test_two_processes_write_the_same_sqlite_file_without_locking_errors(tmp_path):
    db_path = tmp_path / "side_by_side.sqlite3"
    env = run_env(db_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, tag],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("web", "qcluster")
    ]
    results = [writer.communicate(timeout=120) for writer in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err[-2000:]
        assert out.strip() == "ok"
    count = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from properties.models import Organization; print(Organization.objects.count())",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert count.stdout.split()[-1] == "300"
    mode = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.db import connection; c = connection.cursor(); "
            "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert mode.stdout.split()[-1] == "wal"
