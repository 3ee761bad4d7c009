"""Values a process keeps for a few seconds: what every reader of a page would compute alike.

The dashboard's monthly figures take a GROUP BY over the whole period and a thousand bars to
draw; they change slowly, so each app process computes them at most once per
DASHBOARD_CACHE_SECONDS and the page says how fresh they are. Nothing is shared between
processes, so a figure is never older than the setting, whichever server answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Recent:
    """A small map of recently computed values, each kept for a given number of seconds."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, seconds: float, make: Callable[[], T]) -> T:
        """Return the value kept for key if younger than `seconds`, else make and keep it.

        Two threads that miss at once both compute it; the later one is kept. That costs one
        computation, never a wrong answer.
        """
        if seconds <= 0:
            return make()
        now = time.monotonic()
        with self._lock:
            kept = self._items.get(key)
        if kept is not None and now - kept[0] < seconds:
            return kept[1]
        value = make()
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()  # a handful of periods and clinics: simpler than LRU
            self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
