from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from jsn.lib.health import HEARTBEAT_CACHE_KEY


@shared_task
def heartbeat_task() -> str:
    """Proves worker and Beat are alive: the health page shows when it last ran."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=None)
    return now
