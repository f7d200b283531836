"""What the threats check's per-entity baselines cost in the store, for a big tenant.

Builds one day of a tenant with ``--per-day`` sign-ins (default 1M) in a scratch store:
``--users`` users (default 20,000), most of them with one or two IPs of their own and
some behind shared NAT addresses, 300 apps; sign-ins follow the working day. Then it
counts the day's 24 hours into the baseline tables (as the threats check does) and
prints what the counts take on disk, per day and for --baseline-days, beside what the
sign-in rows of that day take.

    python benchmarks/baseline_space.py [--per-day 1000000] [--users 20000] [--days 7]
"""

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta

from common import ROOT

sys.path.insert(0, ROOT)
from check_entra_noninteractive import normalize, timeutil  # noqa: E402
from check_entra_noninteractive.store import Store  # noqa: E402

DAY = timeutil.parse_time("2026-11-20T00:00:00Z")
# Share of a day's sign-ins per hour (UTC): the working day, and a quiet night.
PROFILE = [1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 8, 7, 7, 8, 8, 7, 6, 4, 3, 2, 2, 1, 1, 1]


def rows(per_day, users, seed=1):
    rng = random.Random(seed)
    apps = ["app-%03d" % i for i in range(300)]
    nat = ["198.51.100.%d" % i for i in range(200)]
    own_ips = [["10.%d.%d.%d" % (u >> 16, (u >> 8) & 255, u & 255),
                "172.16.%d.%d" % ((u >> 8) & 255, u & 255)] for u in range(users)]
    weights = [p / sum(PROFILE) for p in PROFILE]
    template = dict.fromkeys(normalize.COLUMNS, "")
    template.update(event_mask=1, success=1, error_code=0)
    for number in range(per_day):
        hour = rng.choices(range(24), weights)[0]
        user = min(int(rng.paretovariate(1.2)) - 1, users - 1) if rng.random() < 0.3 \
            else rng.randrange(users)
        row = dict(template)
        row["id"] = "s%08d" % number
        row["created"] = timeutil.to_store(DAY + timedelta(hours=hour,
                                                           seconds=rng.randrange(3600)))
        row["user_id"] = "user-%05d" % user
        row["ip"] = rng.choice(nat) if rng.random() < 0.2 else rng.choice(own_ips[user])
        row["app_id"] = apps[min(int(rng.paretovariate(1.0)) - 1, 299)]
        yield row


def size_of_tables(path, names):
    """Bytes the tables take, copied alone into a fresh database file."""
    copy = path + ".copy"
    db = sqlite3.connect(copy)
    db.execute("ATTACH DATABASE ? AS source", (path,))
    for name in names:
        sql, = db.execute("SELECT sql FROM source.sqlite_master WHERE name = ?",
                          (name,)).fetchone()
        db.execute(sql)
        db.execute("INSERT INTO main.%s SELECT * FROM source.%s" % (name, name))
    db.commit()
    db.execute("DETACH DATABASE source")
    db.execute("VACUUM")
    db.close()
    size = os.path.getsize(copy)
    os.unlink(copy)
    return size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=1000000)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="entra-baseline-")
    path = os.path.join(directory, "store.sqlite")
    store = Store(path, scratch=True)
    batch = []
    for row in rows(args.per_day, args.users):
        batch.append(row)
        if len(batch) == 50000:
            store.add(batch)
            batch = []
    store.add(batch)
    store.add_page([], ["nonInteractiveUser"], DAY, DAY + timedelta(days=1),
                   DAY + timedelta(days=1))
    started = time.perf_counter()
    store.count_hours(DAY + timedelta(days=1), timedelta(0),
                      {"nonInteractiveUser": ["nonInteractiveUser"]}, args.days, most=None)
    seconds = time.perf_counter() - started
    (counts,), = store.query("SELECT COUNT(*) FROM baseline_counts")
    store.close()
    baseline = size_of_tables(path, ["baseline_counts", "baseline_hours", "baseline_seen"])
    signins = size_of_tables(path, ["signins"])
    mib = 1024.0 * 1024
    print("one day: %d sign-ins, %d users" % (args.per_day, args.users))
    print("hourly counts of the day: %d rows, %.1f MiB (counted in %.1f s)"
          % (counts, baseline / mib, seconds))
    print("for --baseline-days %d (+1 day kept): about %.0f MiB"
          % (args.days, baseline * (args.days + 1) / mib))
    print("the day's sign-in rows themselves: %.0f MiB" % (signins / mib))
    os.unlink(path)
    os.rmdir(directory)


if __name__ == "__main__":
    main()
