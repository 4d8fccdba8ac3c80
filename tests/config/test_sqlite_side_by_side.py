"""The embedded setup: a web process and a qcluster write one SQLite file side by side."""

import contextlib
import os
import sqlite3
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


def test_two_processes_write_the_same_sqlite_file_without_locking_errors(migrated_sqlite):
    db_path = migrated_sqlite("side_by_side.sqlite3")
    env = run_env(db_path)
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
    # Read with SQLite itself: a Django process more would cost seconds to start.
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        assert db.execute("SELECT count(*) FROM properties_organization").fetchone() == (300,)
        # WAL is a property of the file: every process that opens it writes ahead.
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
