"""CloudWatch Logs streams save their events in sealed chunks, each pickled once.

moto 5.2.5 keeps a stream's events in one list, and `persistence.shards` saves a stream as one
resource: every PutLogEvents re-pickled every event of the stream. One stream can gather many
tenants' lines (a pooled endpoint's loads and unloads), so the cost of a write grew with the
tenants. moto only ever appends to `events`, so each full chunk of `CHUNK` events is pickled
once and its bytes are reused by every later save (checked by the identity of its first and
last event); only the open chunk is pickled again.

`_restore_stream` is named in saved state: keep its module path, or bump the state format.
"""

from __future__ import annotations

import pickle
from typing import Any

from moto.logs.models import LogStream

from localaws.core.patching import Patches

patches = Patches("logs.streams")
CHUNK = 256
_CACHE = "_localaws_chunks"  # [(first event, last event, pickled chunk)]


def _sealed(stream: Any, events: list) -> list[tuple[Any, Any, bytes]]:
    """The stream's full chunks, pickled (reusing what an earlier save pickled)."""
    cached = stream.__dict__.get(_CACHE) or []
    chunks = []
    for i in range(len(events) // CHUNK):
        first, last = events[i * CHUNK], events[(i + 1) * CHUNK - 1]
        if i < len(cached) and cached[i][0] is first and cached[i][1] is last:
            chunks.append(cached[i])
            continue
        part = events[i * CHUNK : (i + 1) * CHUNK]
        chunks.append((first, last, pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)))
    if len(chunks) != len(cached) or any(a is not b for a, b in zip(chunks, cached, strict=True)):
        # a new list only when a chunk changed: the stream's fingerprint holds this one
        stream.__dict__[_CACHE] = chunks
    return chunks


@patches.replace(LogStream, "__reduce_ex__")
def __reduce_ex__(self, protocol: int) -> Any:
    state = self.__dict__.copy()
    state.pop(_CACHE, None)
    events = list(state.pop("events", []))
    chunks = _sealed(self, events)
    tail = events[len(chunks) * CHUNK :]
    return _restore_stream, (type(self), state, [blob for _, _, blob in chunks], tail)


def _restore_stream(cls: type, state: dict, blobs: list[bytes], tail: list) -> Any:
    """Rebuild a stream saved by `LogStream.__reduce_ex__` (keeping its chunks' bytes)."""
    stream = cls.__new__(cls)
    stream.__dict__.update(state)
    events: list = []
    chunks = []
    for blob in blobs:
        part = pickle.loads(blob)
        chunks.append((part[0], part[-1], blob))
        events += part
    stream.events = events + list(tail)
    stream.__dict__[_CACHE] = chunks
    return stream
