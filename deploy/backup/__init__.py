"""Backups and disaster recovery of the event store (PostgreSQL, the system of record).

`vq backup run` keeps a folder with base backups (`pg_basebackup`, tar, zstd, with a manifest)
and the WAL streamed continuously by `pg_receivewal` through a replication slot; `vq restore`
recovers a new data directory from that folder to its latest point or to a moment (PITR);
`vq backup reclaim` puts back, from Kafka, events a restore lost but the relay had published.
Redis is rebuilt from the restored store (`vq projections rebuild`); Kafka gets the restored
events again from the relay. Runbook: the README's "Backups and disaster recovery".

Modules: `pg` (the tools, the connection), `folder` (the layout), `base` (one base backup),
`stream` (the WAL receiver), `runner` (`vq backup run`), `status` (`vq backup status`), `restore`
+ `recover` + `aftermath` (`vq restore` and its report), `reclaim` (Kafka), `cli`.
"""
