"""Channels: one small adapter per way of reaching someone, behind the `Sender` port (port.py)."""
