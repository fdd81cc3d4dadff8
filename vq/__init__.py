"""Composition root of virtual-queue: settings and the `vq` command line."""
