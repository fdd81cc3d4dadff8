"""Validation of a queue's configuration: every rule a QueueConfig must meet to be used."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import get_args

from domain.config import AppointmentSettings, BusyCounterPolicy, QueueConfig, TransferPolicy
from domain.errors import Rejected
from domain.hours import is_valid_timezone, parse_hhmm

MAX_NAME_LENGTH = 200
_PREFIX = re.compile(r"[A-Za-z0-9]{1,5}", re.ASCII)


def _invalid(detail: str) -> Rejected:
    return Rejected("validation", detail)


def _check_names(what: str, values: Sequence[str], *, required: bool) -> None:
    if required and not values:
        raise _invalid(f"at least one {what} is required")
    if any(not isinstance(v, str) or not v.strip() for v in values):
        raise _invalid(f"{what} names must be non-empty strings")
    if len(set(values)) != len(values):
        raise _invalid(f"{what} names must be unique, got {list(values)}")


def _check_seconds(name: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _invalid(f"{name} must be a non-negative number of seconds, got {value!r}")


def _check_hours(config: QueueConfig) -> None:
    for oh in config.opening_hours:
        if isinstance(oh.weekday, bool) or oh.weekday not in range(7):
            raise _invalid(f"opening hours weekday must be 0 (Monday) to 6, got {oh.weekday!r}")
        opens, closes = parse_hhmm(oh.opens), parse_hhmm(oh.closes)
        if opens is None or closes is None or oh.opens == "24:00":
            raise _invalid(f"opening hours must be HH:MM, got {oh.opens!r}-{oh.closes!r}")
        if opens >= closes:
            raise _invalid(f"opening hours must open before they close: {oh.opens}-{oh.closes}")


def validate_config(config: QueueConfig) -> None:
    """Raise Rejected("validation") naming the first rule `config` breaks."""
    if not config.name.strip() or len(config.name) > MAX_NAME_LENGTH:
        raise _invalid(f"name must be 1 to {MAX_NAME_LENGTH} characters")
    if not _PREFIX.fullmatch(config.prefix):
        raise _invalid(f"prefix must be 1 to 5 letters or digits, got {config.prefix!r}")
    _check_names("counter", config.counters, required=True)
    _check_names("service type", config.service_types, required=False)
    _check_names("priority class", config.priority_classes, required=True)
    if config.capacity is not None and (
        not isinstance(config.capacity, int)
        or isinstance(config.capacity, bool)
        or config.capacity < 1
    ):
        raise _invalid(f"capacity must be at least 1 or unbounded, got {config.capacity!r}")
    if config.default_priority not in config.priority_classes:
        raise _invalid(f"default priority {config.default_priority!r} is not a priority class")
    if (
        config.aging_max_priority is not None
        and config.aging_max_priority not in config.priority_classes
    ):
        raise _invalid(f"aging max priority {config.aging_max_priority!r} is not a priority class")
    if not is_valid_timezone(config.timezone):
        raise _invalid(f"unknown time zone {config.timezone!r}")
    _check_hours(config)
    if config.transfer_policy not in get_args(TransferPolicy):
        raise _invalid(f"unknown transfer policy {config.transfer_policy!r}")
    if config.busy_counter_policy not in get_args(BusyCounterPolicy):
        raise _invalid(
            f"unknown busy counter policy {config.busy_counter_policy!r}; "
            f"policies are {list(get_args(BusyCounterPolicy))}"
        )
    _check_seconds("aging_after_seconds", config.aging_after_seconds, optional=True)
    _check_seconds("no_show_grace_seconds", config.no_show_grace_seconds)
    _check_seconds("target_wait_seconds", config.target_wait_seconds)
    _check_seconds("mean_service_seconds", config.mean_service_seconds)
    if config.appointments is not None:
        _check_appointments(config.appointments)


_APPOINTMENT_BOUNDS = {
    "slot_minutes": (5, 240),
    "per_slot": (1, 1000),
    "lead_minutes": (0, 1440),
    "early_minutes": (0, 1440),
    "grace_minutes": (0, 240),
    "horizon_days": (1, 366),
}


def _check_appointments(settings: AppointmentSettings) -> None:
    for name, (low, high) in _APPOINTMENT_BOUNDS.items():
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _invalid(f"appointments.{name} must be {low} to {high}, got {value!r}")
    if 1440 % settings.slot_minutes:
        raise _invalid(
            f"appointments.slot_minutes must divide a day (1440 minutes), got "
            f"{settings.slot_minutes}"
        )
