import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _private_media_and_fresh_limits(settings, tmp_path):
    """Each test gets its own media root and empty rate-limit counters (kept in the shared cache)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    cache.clear()
    yield
    cache.clear()
