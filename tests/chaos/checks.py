"""The invariants checked after every round, once requests stopped and the worker settled.

1. `cofferd check-usage` exits 0 (stored used/reserved counters equal the sums over
   active files and open uploads), and in SQL every counter is >= 0 and
   used + reserved <= quota, for bytes and for objects.
2. `cofferd check-storage` exits 0 (no object without a file, open upload or queued
   purge; no active file without its object).
3. No answer had a status >= 500 (the server log lines of each are printed).
4. The audit log gained exactly one event per audited request the harness had
   answered (rounds without a cofferd kill only: a killed process loses the events
   still queued in it).
5. Downloads returned the bytes that were uploaded; no process died unasked; no
   connection error happened outside a kill.
"""

import time
from collections import Counter

SETTLE_TIMEOUT_SECONDS = 120
AUDIT_TIMEOUT_SECONDS = 30
MAX_LISTED = 10

# (request kind, status of the answer) -> the audit action the server records for it
# (see `audit.record` in src/**/routes.rs and src/sharing/public.rs). Other answers of
# these kinds (and every other request the harness makes) record nothing.
AUDITED = {
    ("auth.register", 201): "auth.register",
    ("auth.register", 409): "auth.register",
    ("auth.login", 200): "auth.login",
    ("auth.login", 401): "auth.login",
    ("uploads.start", 200): "presign.upload",
    ("uploads.start", 201): "presign.upload",
    ("uploads.batch_item", 200): "presign.upload",
    ("uploads.batch_item", 201): "presign.upload",
    ("files.download", 200): "presign.download",
    ("shares.create", 200): "share.updated",
    ("shares.create", 201): "share.created",
    ("links.create", 201): "link.created",
    ("links.info", 404): "link.refused",
    ("links.redeem", 200): "link.redeemed",
    ("links.redeem", 404): "link.refused",
    ("admin.delete_user", 202): "admin.user_deleted",
    ("trash.restore", 200): "trash.restored",
    ("trash.delete", 204): "trash.purged",
    ("trash.empty", 200): "trash.emptied",
}

COUNTERS = (
    "SELECT username, used_bytes, used_objects, reserved_bytes, reserved_objects, "
    "quota_bytes, quota_objects FROM users"
)


def settle(db):
    """Waits until no task is due or running and no upload past its expiry is open;
    returns the failures (none, or that it did not happen in time)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        now_ms = int(time.time() * 1000)
        busy = db.rows(
            "SELECT count(*) FROM tasks WHERE state = 'running' "
            f"OR (state = 'queued' AND run_after_ms <= {now_ms})"
        )[0][0]
        expired = db.rows(db.EXPIRED_OPEN_UPLOADS)[0][0]
        if busy == "0" and expired == "0":
            return []
        if time.monotonic() > deadline:
            return [
                f"the worker did not settle in {SETTLE_TIMEOUT_SECONDS}s: {busy} task(s) "
                f"due or running, {expired} upload(s) open past their expiry"
            ]
        time.sleep(0.2)


def audit_counts(db):
    """Audit events by action, once the asynchronous writer stopped adding any."""
    deadline = time.monotonic() + AUDIT_TIMEOUT_SECONDS
    last = None
    while time.monotonic() < deadline:
        rows = db.rows("SELECT action, count(*) FROM audit_events GROUP BY action")
        counts = Counter({action: int(n) for action, n in rows})
        if counts == last:
            return counts
        last = counts
        time.sleep(0.5)
    return last


def cli_check(cluster, command):
    """Runs `cofferd <command>`. A failure must survive a second run after the worker
    settled again: the command reads the tables in several statements, so a
    reconciliation finishing in between could make a consistent ledger look drifted."""
    for attempt in range(2):
        code, out = cluster.cli(command)
        if code == 0:
            return []
        if attempt == 0:
            settle(cluster.db)
            time.sleep(1)
    lines = out.strip().splitlines()
    shown = lines[: MAX_LISTED * 2]
    if len(lines) > len(shown):
        shown.append(f"... ({len(lines)} lines)")
    listing = "\n".join(f"    {line}" for line in shown)
    return [f"cofferd {command} exited with status {code}:\n{listing}"]


def counter_check(db):
    """Every counter >= 0 and used + reserved <= quota, in bytes and in objects."""
    failures = []
    for name, *numbers in db.rows(COUNTERS):
        used_b, used_o, res_b, res_o, quota_b, quota_o = map(int, numbers)
        state = f"used {used_b} B / {used_o} objects, reserved {res_b} B / {res_o} objects"
        if min(used_b, used_o, res_b, res_o) < 0:
            failures.append(f"{name}: negative counter: {state}")
        if used_b + res_b > quota_b or used_o + res_o > quota_o:
            failures.append(f"{name}: over quota ({quota_b} B / {quota_o} objects): {state}")
    return failures


def server_errors(cluster, round_tally):
    """Each answer >= 500, with the server log lines of its request."""
    errors = round_tally.server_errors
    failures = []
    for kind, status, request_id, detail in errors[:MAX_LISTED]:
        lines = cluster.log_lines(f'"{request_id}"') if request_id != "-" else []
        text = f"{kind} answered {status} (request id {request_id}): {detail}"
        failures.append("\n    ".join([text] + lines[:MAX_LISTED]))
    if len(errors) > MAX_LISTED:
        failures.append(f"... and {len(errors) - MAX_LISTED} more answers >= 500")
    return failures


def expected_audit(requests):
    expected = Counter()
    for (kind, status), n in requests.items():
        if (kind, status) in AUDITED:
            expected[AUDITED[kind, status]] += n
    return expected


def audit_check(before, after, requests):
    """The events added during the round equal those the answered requests imply."""
    expected = expected_audit(requests)
    added = after - before
    return [
        f"audit: {action}: {added[action]} event(s) recorded, {expected[action]} expected"
        for action in sorted(set(expected) | set(added))
        if added[action] != expected[action]
    ]


def client_side(cluster, round_tally):
    """What the clients saw: wrong bytes, connection errors outside kills, dead processes."""
    failures = [f"download mismatch: {m}" for m in round_tally.mismatches[:MAX_LISTED]]
    failures += [
        f"connection error outside a kill: {kind}: {error}"
        for kind, error in round_tally.unexpected_conn_errors[:MAX_LISTED]
    ]
    failures += [f"{name} exited unexpectedly (see its log)" for name in cluster.exited()]
    return failures


def check_round(cluster, round_tally, audit_before, check_audit):
    """All invariants after a round; returns (failures, audit counts now)."""
    failures = settle(cluster.db)
    audit_after = audit_counts(cluster.db)
    failures += cli_check(cluster, "check-usage")
    failures += counter_check(cluster.db)
    failures += cli_check(cluster, "check-storage")
    failures += server_errors(cluster, round_tally)
    if check_audit:
        failures += audit_check(audit_before, audit_after, round_tally.requests)
    failures += client_side(cluster, round_tally)
    return failures, audit_after
