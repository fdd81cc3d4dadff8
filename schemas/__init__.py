"""Avro schemas of every event version, the event <-> record mapping and the Kafka codec.

* `schemas/<Type>.v<N>.avsc`: one self-contained Avro record per event type and version.
* `schemas.mapping`: domain event <-> plain record (used by the event store's JSONB payloads too),
  and the upcasters that lift old stored versions to the current dataclass.
* `schemas.registry`: the shipped .avsc files, parsed with fastavro.
* `schemas.codec`: the Kafka message format (CloudEvents binary mode, Avro body).
"""
