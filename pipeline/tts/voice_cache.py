"""A bounded cache of mixed voice packs, least recently used out first, sized in bytes.

Built-in packs are owned by :class:`~pipeline.tts.voices.VoiceStore` (at most one copy of
each of the ~54 files); they are *pinned* here: they cost nothing against the budget and are
never evicted. Blends are new arrays (~0.5 MB each), so a server asked for thousands of
distinct blend weights keeps at most ``max_bytes`` of them. Example::

    cache = VoiceCache(max_bytes=64 * 2**20)
    pack = cache.get("af_bella(0.5)+af_sky(0.5)") or cache.put("af_bella(0.5)+af_sky(0.5)", mixed, pinned=False)
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MAX_BYTES = 64 * 2**20


class VoiceCache:
    """canonical recipe -> style pack. Thread-safe; ``get`` refreshes an entry's recency."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max(0, max_bytes)
        self._pinned: dict[str, np.ndarray] = {}
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def __getstate__(self) -> dict:  # engines travel to worker processes: the lock does not
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes held by unpinned (blend) packs."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._pinned) + len(self._lru)

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            pack = self._pinned.get(key)
            if pack is not None:
                return pack
            pack = self._lru.get(key)
            if pack is not None:
                self._lru.move_to_end(key)
            return pack

    def put(self, key: str, pack: np.ndarray, *, pinned: bool) -> np.ndarray:
        """Keep ``pack`` under ``key``; returns it. An unpinned pack larger than the whole
        budget is returned without being kept."""
        with self._lock:
            if pinned:
                self._pinned[key] = pack
                return pack
            if key in self._lru:
                self._bytes -= self._lru.pop(key).nbytes
            if pack.nbytes > self.max_bytes:
                return pack
            self._lru[key] = pack
            self._bytes += pack.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._lru.popitem(last=False)
                self._bytes -= evicted.nbytes
                self.evictions += 1
            return pack
