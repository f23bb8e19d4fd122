"""R2 (RELIABILITY.md): Redis down for STRESS_REDIS_DOWN_SECONDS (default 60) during claims.

Redis is the cache (per-user rate limits) and the Celery broker. 16 API clients claim and release, a page client
loads the dashboard, and a staff client releases other users' claims: each such release promises the owner an
e-mail (an outbox row written with the release). Redis is killed with SIGKILL and, after the outage, started again
empty (no persistence: every queued task is gone, as after a crash). Web, Celery worker and Beat (sweeping the
outbox every 5 s here) keep running.

Pass: claims keep committing during the outage (no 5xx; the rate limiter falls back to a per-process count, logged);
every committed staff release is mailed to its owner exactly once after recovery (none lost, none twice); the
database holds no double owner and no user over the limit; every process is still the one started.
"""

import json
import random
import re
import threading
import time

import psycopg
import pytest

from tests.fakes.mailbox import read_mailbox
from tests.stress.harness import (
    Load,
    env_float,
    latency,
    log,
    page_loop,
    print_report,
    statuses,
    stress_environment,
    subscriber_loop,
    wait_until,
)

pytestmark = pytest.mark.stress

CLIENTS = int(env_float("STRESS_CLIENTS", 16))
REDIS_DOWN_SECONDS = env_float("STRESS_REDIS_DOWN_SECONDS", 60)
SWEEP_SECONDS = 5
USERS, CASES, CLAIM_LIMIT = 40, 200, 3
ALLOWED = {200, 201, 403, 409, 423}  # the database is up: not even a 503
REASON = re.compile(r"Reason: (r2 notice #\d{5})\b")


def staff_loop(env, token: str, released: list[dict], lock: threading.Lock):
    """Every ~0.5 s release a random active claim of some subscriber, with a unique reason."""
    headers = {"Authorization": f"Token {token}"}
    counter = iter(range(1, 100_000))
    conn = psycopg.connect(env.db_url, autocommit=True)

    def loop(load: Load, name: str) -> None:
        row = conn.execute(
            "SELECT case_id FROM claims_claim WHERE status = 'active' ORDER BY random() LIMIT 1"
        ).fetchone()
        if row is not None:
            reason = f"r2 notice #{next(counter):05d}"
            answer = load.call(name, "staff_release", "POST", f"/api/v3/cases/{row[0]}/release", headers,
                               {"reason": reason})  # fmt: skip
            if answer.status == 200:
                with lock:
                    released.append({"reason": reason, "at": time.time(), "started": answer.started})
        time.sleep(0.5)

    return loop


def test_r2_redis_down_during_claims():
    extra = {"OUTBOX_SWEEP_SECONDS": str(SWEEP_SECONDS)}
    with stress_environment(beat=True, extra_env=extra, users=USERS, cases=CASES, claim_limit=CLAIM_LIMIT) as env:
        data = env.data
        load = Load(port=env.app.port)
        released: list[dict] = []
        lock = threading.Lock()
        for i in range(CLIENTS):
            user = data["users"][i % len(data["users"])]
            load.spawn(f"client-{i}", subscriber_loop(user, data["cases"], CLAIM_LIMIT, random.Random(i)))
        load.spawn("staff", staff_loop(env, data["staff"]["token"], released, lock))
        load.spawn("page", page_loop(data["session_cookie"]))  # sessions live in the database: pages keep working

        time.sleep(5)  # baseline
        log(f"R2: redis-server killed for {REDIS_DOWN_SECONDS:.0f}s")
        down_at, down_wall = time.monotonic(), time.time()
        env.redis.kill()
        time.sleep(REDIS_DOWN_SECONDS)
        env.redis.start()
        up_at, up_wall = time.monotonic(), time.time()
        log("R2: redis-server started again (empty)")
        time.sleep(10)
        load.stop()
        answers = load.snapshot()

        def unsent() -> int:
            return env.sql("SELECT count(*) FROM outbox_outboxmessage WHERE sent_at IS NULL")[0][0]

        drained = wait_until(lambda: unsent() == 0, timeout=SWEEP_SECONDS + 120, every=1)
        time.sleep(2 * SWEEP_SECONDS)  # room for a late duplicate (a second sweep, a redelivered nudge) to show

        # --- what was promised, what was sent ----------------------------------------------------------------------
        events = env.sql(
            "SELECT e.reason, u.email FROM claims_claimevent e JOIN accounts_user u ON u.id = e.from_user_id "
            "WHERE e.action = 'released' AND e.actor_id = %s",
            (data["staff"]["id"],),
        )
        owner_of = dict(events)
        messages = env.sql(
            "SELECT extract(epoch FROM created_at), extract(epoch FROM sent_at), attempts FROM outbox_outboxmessage"
        )
        mails = read_mailbox(env.mailbox)
        mailed: dict[str, list[list[str]]] = {}
        for m in mails:
            for reason in REASON.findall(m["body"]):
                mailed.setdefault(reason, []).append(m["to"])
        lost = sorted(set(owner_of) - set(mailed))
        twice = sorted(r for r, to in mailed.items() if len(to) > 1)
        wrong_recipient = sorted(r for r, to in mailed.items() if r in owner_of and to[0] != [owner_of[r]])
        during_outage = [row for row in messages if down_wall <= float(row[0]) <= up_wall]
        sent_before_recovery = [row for row in during_outage if row[1] is not None and float(row[1]) < up_wall]

        # --- claims --------------------------------------------------------------------------------------------------
        outage_answers = [a for a in answers if down_at <= a.started <= up_at]
        claims_in_outage = [a for a in outage_answers if a.kind == "claim" and a.status == 201]
        acknowledged = [json.loads(a.body)["id"] for a in answers if a.kind == "claim" and a.status == 201]
        stored = {r[0] for r in env.sql("SELECT id FROM claims_claim WHERE id = ANY(%s)", (acknowledged,))}
        double_owners = env.sql(
            "SELECT case_id FROM claims_claim WHERE status = 'active' GROUP BY case_id HAVING count(*) > 1"
        )
        over_limit = env.sql(
            "SELECT c.user_id FROM claims_claim c JOIN accounts_user u ON u.id = c.user_id WHERE c.status = 'active' "
            "GROUP BY c.user_id, u.claim_limit HAVING count(*) > u.claim_limit"
        )
        web_log = env.app.log("web")
        report = {
            "redis_down_seconds": round(up_at - down_at, 1),
            "requests": len(answers),
            "by_status": statuses(answers),
            "during_outage": {
                "requests": len(outage_answers),
                "by_kind": {
                    k: statuses([a for a in outage_answers if a.kind == k])
                    for k in ("claim", "release", "staff_release", "page")
                },
                "claims_committed": len(claims_in_outage),
                "latency": latency(outage_answers),
            },
            "latency_before_outage": latency([a for a in answers if a.started < down_at]),
            "latency_after_recovery": latency([a for a in answers if a.started > up_at]),
            "acknowledged_claims_missing": len(set(acknowledged) - stored),
            "double_owners": len(double_owners),
            "users_over_limit": len(over_limit),
            "staff_releases": len(owner_of),
            "staff_releases_during_outage": sum(1 for r in released if down_at <= r["started"] <= up_at),
            "outbox_messages": len(messages),
            "outbox_messages_written_during_outage": len(during_outage),
            "outbox_drained": drained,
            "notices_mailed": sum(len(v) for v in mailed.values()),
            "notices_lost": len(lost),
            "notices_mailed_twice": len(twice),
            "notices_to_wrong_recipient": len(wrong_recipient),
            "outage_notices_sent_before_recovery": len(sent_before_recovery),
            "outage_notices_all_sent_within_seconds_of_recovery": round(
                max((float(row[1]) for row in during_outage if row[1] is not None), default=up_wall) - up_wall, 1
            ),
            "max_attempts": max((row[2] for row in messages), default=0),
            "rate_limit_fallback_logged": "shared cache is unavailable" in web_log,
            "nudge_failure_logged": "Outbox: broker unavailable" in web_log,
            "web_workers_same": env.app.web_workers() == env.app.initial_web_workers,
            "processes_alive": env.app.alive(),
        }
        print_report("R2 Redis down during claims", report)

        bad = [a for a in answers if a.status not in ALLOWED][:3]
        assert bad == [], [(a.status, a.kind, a.body[:300], a.error) for a in bad]
        assert report["during_outage"]["claims_committed"] > 0, "no claim committed while Redis was down"
        assert report["acknowledged_claims_missing"] == 0
        assert report["double_owners"] == 0 and report["users_over_limit"] == 0
        assert report["staff_releases_during_outage"] > 0, "no notice was promised during the outage: proves nothing"
        assert report["outbox_messages"] == report["staff_releases"]  # one owner per release, one message each
        assert drained, "outbox messages still unsent after recovery"
        assert lost == [], lost[:5]
        assert twice == [], twice[:5]
        assert wrong_recipient == [], wrong_recipient[:5]
        assert report["notices_mailed"] == report["staff_releases"]
        assert report["outbox_messages_written_during_outage"] > 0
        assert report["rate_limit_fallback_logged"] and report["nudge_failure_logged"]
        assert report["web_workers_same"] and all(report["processes_alive"].values())
