"""Seeds a stress database: subscribers with API tokens, one staff user, open cases, a logged-in session.

Run by the harness as `python -m tests.stress.seed USERS CASES CLAIM_LIMIT` with the app's environment; prints JSON.
"""

import json
import os
import sys

import django


def main(n_users: int, n_cases: int, claim_limit: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.stress.settings")
    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from cases.models import Case
    from tests.factories import CaseFactory

    now = timezone.now()
    terms = {"terms_version": settings.TERMS_VERSION, "terms_accepted_at": now}
    users = User.objects.bulk_create(
        User(email=f"stress{i}@example.com", claim_limit=claim_limit, password="!", **terms) for i in range(n_users)
    )
    staff = User(email="stress-staff@example.com", role=User.Role.STAFF, is_staff=True, password="!", **terms)
    staff.save()
    tokens = Token.objects.bulk_create(Token(user=u, key=Token.generate_key()) for u in [*users, staff])
    cases = Case.objects.bulk_create(CaseFactory.build(score=40 + i % 60) for i in range(n_cases))

    session = SessionStore()
    session[SESSION_KEY] = str(users[0].pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = users[0].get_session_auth_hash()
    session.save()
    return {
        "users": [{"id": u.pk, "email": u.email, "token": t.key} for u, t in zip(users, tokens, strict=False)],
        "staff": {"id": staff.pk, "email": staff.email, "token": tokens[-1].key},
        "cases": [c.pk for c in cases],
        "session_cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
        "claim_limit": claim_limit,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
