"""Abuse control of the public portal (issue 12 item 2), without outside services.

The ``limits`` library (the engine of Flask-Limiter) counts in a moving window, in memory
shared by every waitress thread of the ``serve`` process. Limits are per client address and
per phone (a keyed hash, never the number); a hit raises 429 with ``Retry-After`` and a plain
Chinese message. Counters live as long as the process: a restart forgives, which is the
accepted cost of needing no outside store (docs/public.md).
"""
from __future__ import annotations

import math
import threading
import time

from limits import RateLimitItemPerDay, RateLimitItemPerHour
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from node.errors import NodeError

_LOCK = threading.Lock()
_LIMITERS: dict[int, MovingWindowRateLimiter] = {}

# name -> (window, config key, message)
RULES = {
    "submit-address": (RateLimitItemPerHour, "submit_per_address_per_hour",
                       "本网络地址提交次数过多，请一小时后再试 / too many submissions from this address; try again in an hour"),
    "submit-phone": (RateLimitItemPerDay, "submit_per_phone_per_day",
                     "该手机号今日提交次数已达上限，请明天再试或拨打 12315 / this phone reached today's limit of "
                     "submissions; try tomorrow or call 12315"),
    "code-phone": (RateLimitItemPerHour, "code_per_phone_per_hour",
                   "该手机号获取验证码过于频繁，请稍后再试 / too many codes sent to this phone; try again later"),
    "code-address": (RateLimitItemPerHour, "code_per_address_per_hour",
                     "获取验证码过于频繁，请稍后再试 / too many codes asked for from this address; try again later"),
    "track-address": (RateLimitItemPerHour, "track_per_address_per_hour",
                      "查询次数过多，请一小时后再试 / too many look-ups from this address; try again in an hour"),
}


def _limiter(node) -> MovingWindowRateLimiter:
    with _LOCK:
        limiter = _LIMITERS.get(id(node))
        if limiter is None:
            limiter = _LIMITERS[id(node)] = MovingWindowRateLimiter(MemoryStorage())
        return limiter


def hit(node, rule: str, key: str) -> None:
    """Count one use of ``rule`` by ``key``; raise 429 when the limit is already reached."""
    window, setting, message = RULES[rule]
    amount = int(getattr(node.config.public, setting))
    item = window(amount)
    limiter = _limiter(node)
    if not limiter.hit(item, rule, key):
        stats = limiter.get_window_stats(item, rule, key)
        err = NodeError(429, "rate_limited", message)
        err.retry_after = max(1, math.ceil(stats.reset_time - time.time()))  # type: ignore[attr-defined]
        raise err


def reset(node) -> None:
    """Forget every counter of this node (tests; an operator after a false alarm restarts)."""
    with _LOCK:
        _LIMITERS.pop(id(node), None)
