from tests.claims.conftest import eager_celery  # noqa: F401 - the same fixture for outbox tests
