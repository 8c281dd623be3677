"""Each integration token's rate limit: ``rate_limit_per_minute`` calls, as a steady rate with a
burst of up to a minute's worth (GCRA, the "generic cell rate algorithm": one timestamp per token,
the theoretical arrival time of its next call, so no per-call log and no edge of a fixed window
where twice the limit could pass).

With Redis (CELERY_BROKER_URL is redis://), every web process books a token's calls in one place,
on the Redis server's clock, as the Mimecast pacer does (``mimecast/pacing.py``); without it (the
demo) each process keeps its own books. If Redis cannot be reached the call is let through: the
limit protects the portal from a runaway playbook, and refusing every call because Redis is down
would turn an outage of the limiter into an outage of the API.
"""

import logging
import threading
import time

from django.conf import settings

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0

# KEYS[1]: the token's key. ARGV: the limit per window, the window in seconds.
# Returns "0" when the call may go (and books it), else the seconds to wait.
_REDIS_SCRIPT = """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local new_tat = math.max(tat, now) + window / limit
local wait = new_tat - now - window
if wait > 0 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'EX', math.ceil(window) + 1)
return '0'
"""


def gcra_step(tat, now, limit, window=WINDOW_SECONDS):
    """One call at ``now`` against the theoretical arrival time ``tat``: (wait, new tat). A wait
    above 0 refuses the call and leaves ``tat`` as it was."""
    new_tat = max(tat, now) + window / limit
    wait = new_tat - now - window
    return (wait, tat) if wait > 0 else (0.0, new_tat)


class LocalLimiter:
    """The same books in this process's memory, for the demo without Redis."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = {}

    def wait(self, key, limit):
        with self._lock:
            wait, self._tat[key] = gcra_step(self._tat.get(key, 0.0), self._clock(), limit)
            return wait

    def reset(self):
        with self._lock:
            self._tat.clear()


class RedisLimiter:
    def __init__(self, redis_client):
        self._script = redis_client.register_script(_REDIS_SCRIPT)

    def wait(self, key, limit):
        try:
            return max(0.0, float(self._script(keys=[key], args=[limit, WINDOW_SECONDS])))
        except Exception as error:  # redis.RedisError and friends: see the module's docstring
            logger.warning("API rate limit unavailable (%s); call let through", type(error).__name__)
            return 0.0


_lock = threading.Lock()
_limiters = {}


def _limiter():
    broker = settings.CELERY_BROKER_URL
    with _lock:
        limiter = _limiters.get(broker)
        if limiter is None:
            if broker.startswith(("redis://", "rediss://")):
                import redis

                limiter = RedisLimiter(redis.Redis.from_url(broker))
            else:
                limiter = LocalLimiter()
            _limiters[broker] = limiter
        return limiter


def token_rate_wait(token):
    """Book one call of ``token``: 0 when it may go, else the seconds until it may."""
    limit = max(1, token.rate_limit_per_minute)
    # By prefix: random per token, so a database recreated with the same ids (tests, a restored
    # backup) never inherits another token's books.
    return _limiter().wait(f"api:rate:{token.prefix}", limit)
