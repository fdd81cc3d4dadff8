"""The cyclic garbage collector's settings for a long-running service process.

What exists once a service has started (modules, the app, its schemas, its clients) lives as
long as the process, so the collector's full passes stop scanning it (`gc.freeze`); and full
passes are made rarer: each one stops the event loop for as long as it takes to walk every
object that remains, which grows with what the process holds (live connections in the API,
queues and their estimators in the worker).
"""

from __future__ import annotations

import gc


def settle(full_every: int) -> None:
    """Freeze what exists now and make a full pass once every `full_every` collections of the
    middle generation (CPython's default: 10)."""
    gc.collect()
    gc.freeze()
    young, middle, _old = gc.get_threshold()
    gc.set_threshold(young, middle, full_every)
