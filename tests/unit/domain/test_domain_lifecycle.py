"""Creating, reconfiguring, opening, pausing, resuming and closing a queue."""

from __future__ import annotations

from dataclasses import replace

import pytest
from domain_gwt import CONFIG, QUEUE, T0, TENANT, called, created, enqueued, given

from domain.commands import (
    ChangeQueueSettings,
    CloseQueue,
    CreateQueue,
    EnqueueTicket,
    OpenQueue,
    PauseQueue,
    QueueCommand,
    ReconfigureQueue,
    ResumeQueue,
)
from domain.config import OpeningHours, QueueConfig
from domain.events import (
    QueueClosed,
    QueueCreated,
    QueueOpened,
    QueuePaused,
    QueueReconfigured,
    QueueResumed,
)


def test_create_queue_emits_created_with_the_commanded_status() -> None:
    command = CreateQueue(queue_id=QUEUE, tenant_id=TENANT, config=CONFIG, status="closed")
    given().when(command).then(
        QueueCreated(queue_id=QUEUE, tenant_id=TENANT, config=CONFIG, status="closed", at=T0)
    )


def test_create_queue_twice_is_already_exists() -> None:
    command = CreateQueue(queue_id=QUEUE, tenant_id=TENANT, config=CONFIG)
    given(created()).when(command).rejects("already-exists")


def test_create_queue_for_another_stream_is_invalid() -> None:
    command = CreateQueue(queue_id="other", tenant_id=TENANT, config=CONFIG)
    given().when(command).rejects("validation")


@pytest.mark.parametrize(
    "command",
    [
        OpenQueue(),
        PauseQueue(),
        CloseQueue(),
        ResumeQueue(),
        ReconfigureQueue(config=CONFIG),
        EnqueueTicket(ticket_id="t1"),
    ],
)
def test_any_other_command_on_a_missing_queue_is_not_found(command: QueueCommand) -> None:
    given().when(command).rejects("not-found")


BAD_CONFIGS = {
    "empty name": QueueConfig(name="  "),
    "long name": QueueConfig(name="x" * 201),
    "empty prefix": QueueConfig(name="q", prefix=""),
    "long prefix": QueueConfig(name="q", prefix="ABCDEF"),
    "prefix symbol": QueueConfig(name="q", prefix="A-"),
    "no counters": QueueConfig(name="q", counters=()),
    "duplicate counters": QueueConfig(name="q", counters=("1", "1")),
    "duplicate service types": QueueConfig(name="q", service_types=("a", "a")),
    "zero capacity": QueueConfig(name="q", capacity=0),
    "no classes": QueueConfig(name="q", priority_classes=(), default_priority="normal"),
    "duplicate classes": QueueConfig(name="q", priority_classes=("a", "a"), default_priority="a"),
    "default not a class": QueueConfig(name="q", default_priority="gold"),
    "aging max not a class": QueueConfig(name="q", aging_max_priority="gold"),
    "bad time zone": QueueConfig(name="q", timezone="Mars/Olympus"),
    "weekday 7": QueueConfig(
        name="q", opening_hours=(OpeningHours(weekday=7, opens="09:00", closes="17:00"),)
    ),
    "bad HH:MM": QueueConfig(
        name="q", opening_hours=(OpeningHours(weekday=0, opens="9:00", closes="17:00"),)
    ),
    "minute 60": QueueConfig(
        name="q", opening_hours=(OpeningHours(weekday=0, opens="09:60", closes="17:00"),)
    ),
    "closes before opens": QueueConfig(
        name="q", opening_hours=(OpeningHours(weekday=0, opens="17:00", closes="09:00"),)
    ),
    "empty interval": QueueConfig(
        name="q", opening_hours=(OpeningHours(weekday=0, opens="09:00", closes="09:00"),)
    ),
    "negative aging": QueueConfig(name="q", aging_after_seconds=-1),
    "negative grace": QueueConfig(name="q", no_show_grace_seconds=-1),
    "negative target": QueueConfig(name="q", target_wait_seconds=-5),
    "negative service": QueueConfig(name="q", mean_service_seconds=-5),
}


@pytest.mark.parametrize("config", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_create_queue_rejects_an_invalid_config(config: QueueConfig) -> None:
    command = CreateQueue(queue_id=QUEUE, tenant_id=TENANT, config=config)
    given().when(command).rejects("validation")


@pytest.mark.parametrize("config", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_reconfigure_rejects_an_invalid_config(config: QueueConfig) -> None:
    given(created()).when(ReconfigureQueue(config=config)).rejects("validation")


def test_a_valid_config_with_everything_set_is_accepted() -> None:
    config = QueueConfig(
        name="Passports",
        prefix="P1",
        service_types=("new", "renew"),
        counters=("a", "b"),
        capacity=1,
        priority_classes=("vip", "normal"),
        default_priority="normal",
        timezone="Europe/Berlin",
        aging_after_seconds=0,
        aging_max_priority="vip",
        opening_hours=(OpeningHours(weekday=6, opens="00:00", closes="24:00"),),
        transfer_policy="back_of_line",
        no_show_grace_seconds=0,
    )
    command = CreateQueue(queue_id=QUEUE, tenant_id=TENANT, config=config)
    given().when(command).then(
        QueueCreated(queue_id=QUEUE, tenant_id=TENANT, config=config, status="open", at=T0)
    )


def test_reconfigure_emits_the_whole_new_config() -> None:
    new = replace(CONFIG, name="Renamed", capacity=10)
    given(created()).when(ReconfigureQueue(config=new)).then(QueueReconfigured(config=new, at=T0))


def test_reconfigure_cannot_drop_a_class_a_waiting_ticket_uses() -> None:
    new = replace(CONFIG, priority_classes=("urgent", "normal"))
    given(created(), enqueued("t1", 1, priority="vip")).when(ReconfigureQueue(config=new)).rejects(
        "validation"
    )


def test_reconfigure_may_drop_a_class_nobody_waits_in() -> None:
    new = replace(CONFIG, priority_classes=("urgent", "normal"))
    given(created(), enqueued("t1", 1)).when(ReconfigureQueue(config=new)).then(
        QueueReconfigured(config=new, at=T0)
    )


def test_reconfigure_cannot_drop_a_service_type_a_waiting_ticket_uses() -> None:
    new = replace(CONFIG, service_types=("ask",))
    given(created(), enqueued("t1", 1, service_type="pay")).when(
        ReconfigureQueue(config=new)
    ).rejects("validation")


def test_reconfigure_cannot_drop_a_counter_with_a_ticket_at_it() -> None:
    new = replace(CONFIG, counters=("2",))
    given(created(), enqueued("t1", 1), called("t1", "1")).when(
        ReconfigureQueue(config=new)
    ).rejects("validation")


def test_reconfigure_may_drop_an_idle_counter() -> None:
    new = replace(CONFIG, counters=("1",))
    given(created(), enqueued("t1", 1), called("t1", "1")).when(ReconfigureQueue(config=new)).then(
        QueueReconfigured(config=new, at=T0)
    )


def test_open_from_closed() -> None:
    given(created(status="closed")).when(OpenQueue()).then(QueueOpened(at=T0))


@pytest.mark.parametrize("status", ["open", "paused"])
def test_open_when_not_closed_is_invalid_transition(status: str) -> None:
    given(created(status=status)).when(OpenQueue()).rejects("invalid-transition")


def test_pause_from_open() -> None:
    given(created()).when(PauseQueue(reason="lunch")).then(QueuePaused(reason="lunch", at=T0))


@pytest.mark.parametrize("status", ["paused", "closed"])
def test_pause_when_not_open_is_invalid_transition(status: str) -> None:
    given(created(status=status)).when(PauseQueue()).rejects("invalid-transition")


def test_resume_from_paused() -> None:
    given(created(status="paused")).when(ResumeQueue()).then(QueueResumed(at=T0))


@pytest.mark.parametrize("status", ["open", "closed"])
def test_resume_when_not_paused_is_invalid_transition(status: str) -> None:
    given(created(status=status)).when(ResumeQueue()).rejects("invalid-transition")


@pytest.mark.parametrize("status", ["open", "paused"])
def test_close_from_open_or_paused(status: str) -> None:
    given(created(status=status)).when(CloseQueue(reason="done")).then(
        QueueClosed(reason="done", at=T0)
    )


def test_close_when_closed_is_invalid_transition() -> None:
    error = given(created(status="closed")).when(CloseQueue()).rejects("invalid-transition")
    assert "closed" in error.detail and "open or paused" in error.detail


def test_lifecycle_events_fold_into_status() -> None:
    state = given(
        created(status="closed"), QueueOpened(at=T0), QueuePaused(reason=None, at=T0)
    ).state()
    assert (state.status, state.version) == ("paused", 3)
    state = given(
        created(),
        QueuePaused(reason=None, at=T0),
        QueueResumed(at=T0),
        QueueClosed(reason=None, at=T0),
    ).state()
    assert (state.status, state.version) == ("closed", 4)


def test_change_settings_applies_only_the_named_ones_to_the_current_config() -> None:
    renamed = replace(CONFIG, name="Renamed")  # changed meanwhile by someone else
    command = ChangeQueueSettings(changes=(("capacity", 10),))
    given(created(), QueueReconfigured(config=renamed, at=T0)).when(command).then(
        QueueReconfigured(config=replace(renamed, capacity=10), at=T0)
    )


def test_change_settings_that_change_nothing_record_nothing() -> None:
    command = ChangeQueueSettings(changes=(("name", CONFIG.name),))
    given(created()).when(command).then()
    given(created()).when(ChangeQueueSettings(changes=())).then()
    # A reason alone changes nothing either: there is no change for it to explain.
    given(created()).when(ChangeQueueSettings(changes=(), reason="suggested")).then()
    same = ChangeQueueSettings(changes=(("capacity", CONFIG.capacity),), reason="suggested")
    given(created()).when(same).then()


def test_the_reason_for_a_change_lands_in_the_event() -> None:
    why = "suggestion confirmed: open counter 3"
    command = ChangeQueueSettings(changes=(("capacity", 10),), reason=why)
    given(created()).when(command).then(
        QueueReconfigured(config=replace(CONFIG, capacity=10), at=T0, reason=why)
    )
    new = replace(CONFIG, name="Renamed")
    given(created()).when(ReconfigureQueue(config=new, reason=why)).then(
        QueueReconfigured(config=new, at=T0, reason=why)
    )
    # Without one, the event says none was given.
    given(created()).when(ChangeQueueSettings(changes=(("capacity", 10),))).then(
        QueueReconfigured(config=replace(CONFIG, capacity=10), at=T0, reason=None)
    )


def test_change_settings_are_checked_like_a_new_config() -> None:
    given(created()).when(ChangeQueueSettings(changes=(("counters", ()),))).rejects("validation")
    given(created()).when(ChangeQueueSettings(changes=(("colour", "red"),))).rejects("validation")
    given(created(), enqueued("t1", 1, priority="vip")).when(
        ChangeQueueSettings(changes=(("priority_classes", ("urgent", "normal")),))
    ).rejects("validation")
