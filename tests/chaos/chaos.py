"""Chaos harness for Coffer's quota/usage ledger.

Runs rounds of random concurrent operations against real `cofferd` processes (and
`coffer-worker` processes in postgres mode), by several client threads acting as a few
users, and checks the ledger's invariants after each round (see checks.py): counters
equal to the files and open uploads and within quota, store and tables agreeing, no
5xx answer, one audit event per audited request, downloads returning the uploaded
bytes. Every third round SIGKILLs a cofferd (and a coffer-worker) in the middle and
restarts it on the same port. The run stops at the first round that breaks an
invariant (unless --keep-going); it exits 0 only when every invariant held in every
round.

Run it through run.sh, which starts Garage for postgres mode:

    tests/chaos/run.sh sqlite            # CI size (a few minutes)
    tests/chaos/run.sh postgres 200      # a long run by hand

or directly, for sqlite mode: python3 tests/chaos/chaos.py sqlite [ROUNDS]
(COFFER_BIN_DIR picks the binaries, default target/debug).
"""

import argparse
import os
import random
import sys
import threading
import time
import traceback

from checks import audit_counts, check_round, settle
from client import CONN_ERROR, Api, Tally
from cluster import ADMIN_PASSWORD, ADMIN_USERNAME, Cluster
from workload import Client, fresh_username, must_login, refresh_sessions, register
from world import World

# Rounds of a CI run: about 2-3 minutes per mode on a 2-core machine.
DEFAULT_ROUNDS = {"sqlite": 12, "postgres": 9}
# The user slot of each client thread: 4 users, 2-3 threads each.
THREAD_SLOTS = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
OPS_PER_THREAD = 150
KILL_EVERY = 3
# Chance that a round includes one user deletion by the admin.
ADMIN_DELETE_CHANCE = 0.5


class HarnessError(Exception):
    """The harness itself failed (not an invariant of the server)."""


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["sqlite", "postgres"])
    parser.add_argument("rounds", type=int, nargs="?")
    parser.add_argument(
        "--ops", type=int, default=OPS_PER_THREAD, help="operations per client thread and round"
    )
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument(
        "--keep-going", action="store_true", help="play every round even after one failed"
    )
    args = parser.parse_args()
    args.rounds = args.rounds or DEFAULT_ROUNDS[args.mode]
    return args


def play_round(cluster, world, tally, rng, ops_per_thread, kill):
    """Runs every client thread for one round; in a kill round, kills and restarts
    processes once a random 30-60% of the operations are done. Returns the names of
    the killed processes."""
    total = ops_per_thread * len(THREAD_SLOTS)
    kill_at = rng.randint(total * 3 // 10, total * 6 // 10) if kill else total + 1
    lock, done, reached, errors = threading.Lock(), [0], threading.Event(), []

    def on_done():
        with lock:
            done[0] += 1
            if done[0] >= kill_at:
                reached.set()

    def body(client):
        try:
            client.run(ops_per_thread, on_done)
        except Exception:
            errors.append(traceback.format_exc())

    threads = []
    for slot in THREAD_SLOTS:
        thread_rng = random.Random(rng.getrandbits(64))
        client = Client(Api(cluster, tally, thread_rng), world, slot, thread_rng)
        threads.append(threading.Thread(target=body, args=(client,)))
    for t in threads:
        t.start()
    killed = []
    while kill and not killed and any(t.is_alive() for t in threads):
        if reached.wait(0.1):
            killed = cluster.kill_and_restart(rng)
    for t in threads:
        t.join()
    if errors:
        raise HarnessError(f"a client thread failed:\n{errors[0]}")
    return killed


def setup(cluster, tally, rng):
    api = Api(cluster, tally, random.Random(rng.getrandbits(64)))
    admin = must_login(api, ADMIN_USERNAME, ADMIN_PASSWORD)
    users = [register(api, fresh_username()) for _ in sorted(set(THREAD_SLOTS))]
    return api, World(users, admin)


def run(cluster, args, tally):
    """Plays the rounds; returns (rounds run, kill rounds, numbers of the failed rounds)."""
    rng = random.Random(args.seed)
    api, world = setup(cluster, tally, rng)
    settle(cluster.db)
    audit_before = audit_counts(cluster.db)
    kill_rounds, failed = 0, []
    for number in range(1, args.rounds + 1):
        kill = number % KILL_EVERY == 0
        started = time.monotonic()
        tally.begin_round()
        world.begin_round(admin_deletes=int(rng.random() < ADMIN_DELETE_CHANCE))
        refresh_sessions(api, world, ADMIN_PASSWORD)
        killed = play_round(cluster, world, tally, rng, args.ops, kill)
        kill_rounds += bool(killed)
        failures, audit_before = check_round(
            cluster, tally.round, audit_before, check_audit=not killed
        )
        print_round(number, args.rounds, tally.round, killed, failures, time.monotonic() - started)
        if failures:
            failed.append(number)
            if not args.keep_going:
                return number, kill_rounds, failed
    return args.rounds, kill_rounds, failed


def print_round(number, rounds, round_tally, killed, failures, seconds):
    requests = sum(round_tally.requests.values())
    chaos = f"killed {', '.join(killed)}, audit not checked" if killed else "no kill, audit checked"
    verdict = "FAILED" if failures else "ok"
    print(
        f"round {number}/{rounds}: {requests} requests, {chaos}, {seconds:.0f}s: {verdict}",
        flush=True,
    )
    for failure in failures:
        print(f"  - {failure}", flush=True)


def print_summary(args, cluster, tally, rounds_run, kill_rounds, failed):
    print(f"\n== chaos summary ({args.mode}, seed {args.seed})")
    print(
        f"rounds run: {rounds_run} of {args.rounds}; audit exactness checked in the "
        f"{rounds_run - kill_rounds} round(s) without a cofferd kill, skipped in {kill_rounds}"
    )
    threads = len(THREAD_SLOTS)
    print(f"operations per round: {args.ops * threads} ({threads} threads x {args.ops})")
    kills = ", ".join(f"{name} x{n}" for name, n in sorted(cluster.kills.items())) or "none"
    print(f"kills: {sum(cluster.kills.values())} processes in {kill_rounds} round(s) ({kills})")
    print("operations by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(tally.ops.items())))
    print("requests by kind and status:")
    for kind in sorted({k for k, _ in tally.requests}):
        by_status = sorted((str(s), n) for (k, s), n in tally.requests.items() if k == kind)
        print(f"  {kind:<18} " + "  ".join(f"{s}: {n}" for s, n in by_status))
    conn_errors = sum(n for (_, s), n in tally.requests.items() if s == CONN_ERROR)
    print(f"connection errors: {conn_errors} (during kills, expected unless listed as failures)")
    if failed:
        print(f"result: FAILED in round(s) {', '.join(map(str, failed))} (see above)")
    else:
        print("result: every invariant held")


def main():
    args = parse_args()
    cluster = Cluster(args.mode, os.environ.get("COFFER_BIN_DIR", "target/debug"))
    print(
        f"== chaos {args.mode}: {args.rounds} rounds, seed {args.seed}, files in {cluster.workdir}",
        flush=True,
    )
    tally = Tally()
    status = 2
    try:
        cluster.start()
        rounds_run, kill_rounds, failed = run(cluster, args, tally)
        print_summary(args, cluster, tally, rounds_run, kill_rounds, failed)
        status = 1 if failed else 0
    except Exception:
        print(f"harness error:\n{traceback.format_exc()}", file=sys.stderr)
    finally:
        cluster.stop(keep_files=status != 0)
        if status != 0:
            print(f"logs and data kept in {cluster.workdir}")
    sys.exit(status)


if __name__ == "__main__":
    main()
