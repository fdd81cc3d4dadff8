"""`vq run`'s supervisor (vq/supervisor.py) on real, tiny child processes and a clock the test
moves: the back-off and its reset, the lines it writes, the crash-loop report, the stop (SIGTERM,
grace, SIGKILL of the whole group) and the leftovers of a supervisor killed with SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vq.supervisor import ChildSpec, Policy, Supervisor, describe_exit, stop_leftovers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _python(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, (sys.executable, "-c", code), dict(os.environ))


def _until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _supervisor(
    tmp_path: Path, policy: Policy | None = None
) -> tuple[Supervisor, Clock, io.StringIO]:
    clock, console = Clock(), io.StringIO()
    return Supervisor(tmp_path, tmp_path / "run.json", policy, clock, console), clock, console


def _death(supervisor: Supervisor, name: str) -> None:
    """Wait (real time) until the child has exited, then let the supervisor notice."""
    _until(lambda: not supervisor.alive(name))
    supervisor.poll()


def test_the_back_off_doubles_from_half_a_second_to_thirty() -> None:
    assert [Policy().delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by SIGKILL"


def test_a_child_that_exits_is_started_again_after_its_back_off(tmp_path: Path) -> None:
    supervisor, clock, console = _supervisor(tmp_path)
    supervisor.start(_python("worker", "import sys; print('hello', flush=True); sys.exit(3)"))
    first = supervisor.pid("worker")
    try:
        _death(supervisor, "worker")
        line = console.getvalue()
        assert f"vq run: worker (pid {first}) exited with code 3 after 0.0 s up" in line
        assert "restarting it in 0.5 s (restart 1" in line
        assert supervisor.pid("worker") is None  # waiting out its back-off
        state = json.loads((tmp_path / "run.json").read_text())
        assert state["children"]["worker"]["restarts"] == 1
        assert state["children"]["worker"]["last_exit"].startswith("exited with code 3 at ")

        clock.now += 0.4
        supervisor.poll()
        assert supervisor.pid("worker") is None
        clock.now += 0.1
        supervisor.poll()
        second = supervisor.pid("worker")
        assert second is not None and second != first
        assert f"worker started again (pid {second}, restart 1)" in console.getvalue()
        # The lines are in run.log and in the child's own log, after what it said itself.
        assert "exited with code 3" in (tmp_path / "run.log").read_text()
        own = (tmp_path / "worker.log").read_text()
        assert own.index("hello") < own.index("exited with code 3") < own.index("started again")
    finally:
        supervisor.stop()


def test_the_back_off_grows_and_starts_anew_after_a_minute_up(tmp_path: Path) -> None:
    supervisor, clock, console = _supervisor(tmp_path)
    supervisor.start(_python("relay", "raise SystemExit(1)"))
    try:
        delays = []
        for up in (0, 0, 0, 61, 0):
            clock.now += up
            _death(supervisor, "relay")
            delays.append(console.getvalue().splitlines()[-1].split("restarting it in ")[1][:4])
            clock.now += 30
            supervisor.poll()  # started again
        assert delays == ["0.5 ", "1 s ", "2 s ", "0.5 ", "1 s "]
    finally:
        supervisor.stop()


def test_a_signal_is_named(tmp_path: Path) -> None:
    supervisor, _, console = _supervisor(tmp_path)
    supervisor.start(_python("worker", "import time; time.sleep(60)"))
    try:
        pid = supervisor.pid("worker")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _death(supervisor, "worker")
        assert f"worker (pid {pid}) was killed by SIGKILL" in console.getvalue()
    finally:
        supervisor.stop()


def test_a_crash_loop_is_reported_once_with_its_log_and_still_retried(tmp_path: Path) -> None:
    supervisor, clock, console = _supervisor(tmp_path, Policy(max_delay_s=2.0))
    code = "import sys; print('relation \"events\" does not exist', flush=True); sys.exit(1)"
    supervisor.start(_python("api", code))
    try:
        for _ in range(6):
            _death(supervisor, "api")
            clock.now += 5  # six deaths in 30 s
            supervisor.poll()
        text = console.getvalue()
        assert text.count("KEEPS FAILING") == 1
        report = text[text.index("KEEPS FAILING") :]
        assert "5 exits within 60 s (last: exited with code 1" in report
        assert "in 2 s, then at most every 2 s" in report
        assert '    | relation "events" does not exist' in report
        tail = [line for line in report.splitlines() if line.startswith("    | ")]
        assert tail and not [line for line in tail if "vq run:" in line]  # its own words only
        assert supervisor.alive("api") or supervisor.pid("api") is None  # retried all the same
        assert json.loads((tmp_path / "run.json").read_text())["children"]["api"]["restarts"] == 6
    finally:
        supervisor.stop()


def test_stop_asks_then_kills_the_whole_group(tmp_path: Path) -> None:
    supervisor, _, console = _supervisor(tmp_path, Policy(stop_grace_s=1.0))
    polite = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\ntime.sleep(60)"
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(tmp_path / 'grandchild')!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)"
    )
    supervisor.start(_python("api", polite))
    supervisor.start(_python("worker", stubborn))
    _until(lambda: (tmp_path / "grandchild").exists() and (tmp_path / "grandchild").read_text())
    grandchild = int((tmp_path / "grandchild").read_text())
    started = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - started < 3
    assert not supervisor.alive("api") and not supervisor.alive("worker")
    assert "api (pid" not in console.getvalue()  # it stopped when asked
    assert (
        "worker (pid" in console.getvalue()
        and "did not stop in time: SIGKILL" in console.getvalue()
    )
    _until(lambda: not _running(grandchild))
    assert not (tmp_path / "run.json").exists()


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _leftover() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )


def _cmdline(pid: int) -> list[str]:
    _until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().count(b"sleep"))
    return [p.decode() for p in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]


def test_the_leftovers_of_a_killed_supervisor_are_stopped(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # the supervisor that was killed
    left, unrelated = _leftover(), _leftover()
    state = {
        "pid": gone.pid,
        "argv": ["python", "-m", "vq.cli", "run"],
        "children": {
            "worker": {"pid": left.pid, "argv": _cmdline(left.pid)},
            # A pid that now runs something else is not ours to stop.
            "api": {"pid": unrelated.pid, "argv": ["python", "-m", "vq.cli", "api"]},
        },
    }
    (tmp_path / "run.json").write_text(json.dumps(state))
    said: list[str] = []
    try:
        stop_leftovers(tmp_path / "run.json", said.append, grace_s=5)
        assert left.wait(timeout=5) == -signal.SIGTERM
        assert unrelated.poll() is None
        assert said == [
            "stopping what an earlier `vq run` that did not stop cleanly left running: "
            f"worker (pid {left.pid})"
        ]
        assert not (tmp_path / "run.json").exists()
    finally:
        for proc in (left, unrelated):
            proc.kill()
            proc.wait()


def test_a_second_supervisor_is_refused(tmp_path: Path) -> None:
    running = _leftover()  # stands for the other `vq run`
    try:
        state = {"pid": running.pid, "argv": _cmdline(running.pid), "children": {}}
        (tmp_path / "run.json").write_text(json.dumps(state))
        with pytest.raises(SystemExit, match=f"another `vq run` is running \\(pid {running.pid}"):
            stop_leftovers(tmp_path / "run.json", print)
        assert running.poll() is None and (tmp_path / "run.json").exists()
    finally:
        running.kill()
        running.wait()


def test_a_second_stop_signal_does_not_wait(tmp_path: Path) -> None:
    supervisor, _, console = _supervisor(tmp_path, Policy(stop_grace_s=30.0))
    ready = tmp_path / "ready"
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(ready)!r}, 'w').close()\ntime.sleep(60)"
    )
    supervisor.start(_python("worker", stubborn))
    _until(ready.exists)  # its handler in place
    asked = time.monotonic()
    supervisor.stop(hurry=lambda: time.monotonic() - asked > 0.5)
    assert time.monotonic() - asked < 3
    assert not supervisor.alive("worker") and "SIGKILL" in console.getvalue()
