"""Checkpoints of a queue's fold, so a stream worker resumes a long history without refolding it.

A worker that meets a queue (after a restart, a rebalance, a cache eviction) needs the queue's
state and its wait-time estimators at exactly the version its read model has, and the estimators
learn from the whole history. Folding months of a busy queue's events again would stall the
worker for minutes, so every CHECKPOINT_EVERY events the worker saves the fold (pickled,
compressed) in the event store's `projection_states`; a load starts from the newest one at or
below the version it needs and folds only the events after it.

A checkpoint must resume exactly the fold a rebuild makes from scratch (`vq projections check`
compares the accuracy figures byte for byte). So it is tied to the code that wrote it: the
fingerprint hashes the source of everything the pickled objects carry behaviour from (`domain/`
`projections/estimates.py` and `projections/model.py`), the Python version and whether the
estimators run compiled (domain/estimation/native.py: their objects pickle otherwise); a
checkpoint of other code is ignored and the queue is folded from its first event. The rows are
written and read only by our own workers (pickle is not for data from elsewhere); dropping them
costs a longer fold, nothing else.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import zlib
from functools import cache
from pathlib import Path

from domain.estimation import native
from projections.model import QueueModel

# Events of a queue between two checkpoints (a checkpoint costs tens of milliseconds to write).
CHECKPOINT_EVERY = 2_000


@cache
def fingerprint() -> str:
    """Names the fold's code: any change to it makes older checkpoints unusable."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(sys.version.encode())
    digest.update(b"compiled" if native.compiled() else b"source")
    fold = [root / "projections" / "estimates.py", root / "projections" / "model.py"]
    for path in sorted([*(root / "domain").rglob("*.py"), *fold]):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def dump(model: QueueModel) -> bytes:
    return zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 1)


def restore(data: bytes) -> QueueModel:
    model = pickle.loads(zlib.decompress(data))  # written by our own workers only
    if not isinstance(model, QueueModel):
        raise TypeError(f"not a queue's fold: {type(model).__name__}")
    return model
