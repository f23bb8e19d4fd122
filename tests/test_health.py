from unittest import mock

import pytest
from django.db import connection
from django.db.utils import OperationalError


@pytest.mark.django_db
def test_health_reports_database_and_cache(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["cache"] == "ok"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db
def test_health_is_503_when_the_database_is_down(client):
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["database"] == "down"
