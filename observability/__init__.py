"""Operating the product: metrics (Prometheus), readiness, logs and traces.

A low floor: it imports `core` only among this project's packages, so every other package (the
event store, the relay, the stream processors, the API) may call into it without a cycle.
"""
