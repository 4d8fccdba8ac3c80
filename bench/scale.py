"""Keystay at size: seed a large organization, then time its list pages and its due work
at 2,000 and at 200,000 reservations. Prints figures; asserts nothing.

For each size, a fresh database (a temporary SQLite file; with DATABASE_URL set, a
`test_<name>` database beside it on PostgreSQL, dropped afterwards) is seeded by
`bench/seed_large.py`, then:
- list pages (`bench/list_pages.py`): admin changelists of reservations (with search and
  date hierarchy), listings and devices, and the API lists, each beside a plain baseline
  of the same model: queries per page, median ms, ratio;
- due work (`bench/due_work.py`): the same number of steps due at both sizes, through
  Seam's fake: the sweep's pass and its due query, and the ratio large / small.

Run with `make bench` or `.venv/bin/python bench/scale.py [--scale 1] [--runs 5]`
(--scale 0.1: 20,000 reservations for the large size, a quick run).
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import seed_large  # noqa: E402  (bench/ is on sys.path: this script's folder)

SMALL = 0.01  # 2,000 reservations


def run_size(
    scale: float, *, runs: int, steps: int, fake, parts: set[str], pages: list[str] | None = None
) -> dict:
    import due_work
    import list_pages
    from django.conf import settings
    from django.contrib.auth import get_user_model

    with seed_large.bench_database() as connection:
        start = time.perf_counter()
        seeded = seed_large.seed(scale=scale, echo=None)
        seconds = time.perf_counter() - start
        rows = sum(seeded.counts.values())
        print(
            f"\n== {seeded.counts['reservations']:,} reservations "
            f"({seeded.counts['lock accesses']:,} lock accesses, {seeded.counts['listings']:,} "
            f"listings, {seeded.counts['devices']:,} devices) on {connection.vendor}: "
            f"seeded {rows:,} rows in {seconds:.1f} s; {memory()}"
        )
        # A second, small organization: scoping has something to leave out.
        seed_large.seed(scale=0.002, name="Small Stays", owner="small-manager", echo=None)
        # What the seeding left in memory is not a web process's: out of the collector's
        # sight, so that its pauses do not land on the pages measured.
        gc.collect()
        gc.freeze()
        superuser = get_user_model().objects.create_superuser("bench-root", password=None)
        settings.SEAM_ALLOWED_ENDPOINTS = [*settings.SEAM_ALLOWED_ENDPOINTS, fake.url]
        figures = due = None
        if "lists" in parts:
            print(f"list pages (median of {runs}; plain = baseline of the same model):")
            print(list_pages.HEADER)
            figures = list_pages.measure(seeded, superuser=superuser, runs=runs, only=pages)
        if "due" not in parts:
            return {"seeded": seeded, "seconds": seconds, "figures": figures, "due": due}
        due = due_work.measure(seeded, fake=fake, steps=steps)
        print(
            f"due work, {steps} steps due: sweep pass {due.sweep:.0f} ms "
            f"(rounds {', '.join(f'{ms:.0f}' for ms in due.sweep_ms)}; worked {due.worked}; "
            f"{due.sweep_queries} queries, {due.sweep_db:.0f} ms in the database), "
            f"its due query {due.due_query:.2f} ms; "
            f"idle pass {due.idle_ms:.2f} ms"
        )
        print(
            f"  read-back choice of locks {due.reconcile_ms:.1f} ms ({due.reconcile_locks} "
            f"locks due), pre-arrival due query {due.prearrival_ms:.2f} ms"
        )
        print("  due query plan: " + " | ".join(line.strip() for line in due.plan))
    print(f"  after the pages and the due work: {memory()}")
    return {"seeded": seeded, "seconds": seconds, "figures": figures, "due": due}


# The whole benchmark, seeding included, runs in bounded memory: rows are seeded, read and
# worked in batches, never all held at once.
MEMORY_GOAL_MB = 300


def memory() -> str:
    """This process's peak resident memory so far (Linux reports it in KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"peak resident memory so far {peak:.0f} MB (goal: < {MEMORY_GOAL_MB} MB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="large size; 1 = 200,000")
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page")
    parser.add_argument("--steps", type=int, default=100, help="steps due in the due-work bench")
    parser.add_argument("--only", choices=["lists", "due"], help="one part only")
    parser.add_argument("--no-small", action="store_true", help="the large size only")
    parser.add_argument(
        "--page",
        action="append",
        dest="pages",
        help="only the pages whose name starts with this (repeatable): 'dashboard', 'front desk'",
    )
    args = parser.parse_args()
    parts = {args.only} if args.only else {"lists", "due"}
    seed_large.configure()

    from tests.seam_fake import start_fake_seam

    print(f"Keystay at size: {platform.node()}, {platform.processor() or platform.machine()}")
    fake = start_fake_seam()
    try:
        small = None
        if not args.no_small:
            small = run_size(
                SMALL, runs=args.runs, steps=args.steps, fake=fake, parts=parts, pages=args.pages
            )
        large = run_size(
            args.scale, runs=args.runs, steps=args.steps, fake=fake, parts=parts, pages=args.pages
        )
    finally:
        fake.stop()
    if small is not None:
        print_growth(small, large)


def print_growth(small: dict, large: dict) -> None:
    n_small = small["seeded"].counts["reservations"]
    n_large = large["seeded"].counts["reservations"]
    print(f"\n== growth from {n_small:,} to {n_large:,} reservations (median ms, large / small)")
    for a, b in zip(small["figures"] or [], large["figures"] or [], strict=True):
        print(
            f"  {b.page:<44}{a.median_ms:8.1f} ms -> {b.median_ms:8.1f} ms "
            f"{b.median_ms / a.median_ms:6.2f}x  ({a.queries} -> {b.queries} queries; "
            f"cpu {a.cpu_ms:.0f} -> {b.cpu_ms:.0f} ms)"
        )
    ds, dl = small["due"], large["due"]
    if ds is None:
        return
    print(
        f"  {'due-work sweep pass':<44}{ds.sweep:8.0f} ms -> {dl.sweep:8.0f} ms "
        f"{dl.sweep / ds.sweep:6.2f}x"
    )
    print(
        f"  {'  its time in the database':<44}{ds.sweep_db:8.0f} ms -> {dl.sweep_db:8.0f} ms "
        f"{dl.sweep_db / ds.sweep_db:6.2f}x"
    )
    print(
        f"  {'its due query':<44}{ds.due_query:8.2f} ms -> {dl.due_query:8.2f} ms "
        f"{dl.due_query / ds.due_query:6.2f}x"
    )
    print(
        f"  {'idle pass (nothing due)':<44}{ds.idle_ms:8.2f} ms -> {dl.idle_ms:8.2f} ms "
        f"{dl.idle_ms / ds.idle_ms:6.2f}x"
    )
    print(
        f"  {'read-back choice of locks':<44}{ds.reconcile_ms:8.1f} ms -> "
        f"{dl.reconcile_ms:8.1f} ms {dl.reconcile_ms / ds.reconcile_ms:6.2f}x"
    )
    print(
        f"  {'pre-arrival due query':<44}{ds.prearrival_ms:8.2f} ms -> "
        f"{dl.prearrival_ms:8.2f} ms {dl.prearrival_ms / ds.prearrival_ms:6.2f}x"
    )


if __name__ == "__main__":
    main()
