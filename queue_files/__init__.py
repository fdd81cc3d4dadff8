"""Queue configurations as files: `vq queues import FILE...` and `vq queues export`.

A client of the public HTTP API like any integrator's: it reads the API's own OpenAPI document to
check a file before changing anything, lists the tenant's queues (`GET /v1/queues`), and creates
(`POST /v1/queues`, with an Idempotency-Key) or updates (`PATCH /v1/queues/{id}`, If-Match) each
queue of the file. It imports nothing of the server.
"""
