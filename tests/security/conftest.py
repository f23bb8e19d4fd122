import pytest


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Each test stores its documents under its own media root (the cache is emptied by tests/conftest.py)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
