"""deploy/prometheus/ and deploy/grafana/: the alert rules, the scrape config and the dashboard,
checked by Prometheus' own `promtool` (Debian's `prometheus` package; `make test` installs it):
the rules and the config load, the rules' unit tests (rules_test.yml) pass, every panel of the
dashboard is PromQL that parses, and every `vq_*` series a rule or a panel reads is one the
product exposes (read from the real collectors of observability/, not from a list kept here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from observability import metrics
from observability.collectors import FiguresCollector, QueueFigures, ReadinessCollector
from observability.health import Lag, Probe, Readiness
from topics import metrics as topic_metrics
from vq.run import METRICS_PORTS

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "vq.json"
UNITS = ROOT / "deploy" / "systemd"
SEVERITIES = {"critical", "warning"}
# Grafana's variables, as Grafana would put them in a query before sending it.
GRAFANA_VALUES = {"__rate_interval": "1m", "__interval": "30s", "__range": "6h"}
# What the dashboard must show (issue 13 and the README's metrics).
PANELS = {
    "Requests by route",
    "Errors by route",
    "Latency P50 / P99",
    "Appends and conflicts",
    "Relay lag",
    "Consumer lag by partition",
    "Live followers",
    "Waiting per queue",
    "P90 wait vs target",
    "Served per hour",
    "Estimate accuracy",
    "Deliveries by outcome",
}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: `make test` installs it (Debian's prometheus package)")
    done = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def alerting_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        yield panel
        yield from panel.get("panels", ())  # a collapsed row keeps its panels inside


def as_grafana_sends(expr: str) -> str:
    """`$__rate_interval` a duration, `$tenant` (a regex matcher's value) "everything"."""
    return re.sub(r"\$\{?(\w+)\}?", lambda found: GRAFANA_VALUES.get(found[1], ".*"), expr)


def test_promtool_loads_the_rules_and_the_config() -> None:
    assert "SUCCESS" in promtool("check", "rules", "--lint=all", "--lint-fatal", "rules.yml")
    # The config check loads its rule files too.
    assert "is valid prometheus config" in promtool("check", "config", "prometheus.yml")


def test_the_rules_unit_tests_pass_and_test_every_alert() -> None:
    assert "SUCCESS" in promtool("test", "rules", "rules_test.yml")
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", ())
        if case.get("exp_alerts")
    }
    held = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", ())
        if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alerting_rules()}
    assert fired == names, "each alert is shown firing by a test"
    assert {"VqConsumerLagHigh", "VqApiErrorRatioHigh"} <= held, "and not firing too soon"


def test_every_alert_waits_says_how_bad_and_what_to_do() -> None:
    runbook = (PROMETHEUS / "RUNBOOK.md").read_text()
    headings = {line[3:].strip().lower() for line in runbook.splitlines() if line[:3] == "## "}
    for rule in alerting_rules():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[sm]", rule.get("for", "")), f"{name}: a `for:` in s or m"
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook"}, name
        assert annotations["runbook"] == f"deploy/prometheus/RUNBOOK.md#{name.lower()}"
        assert name.lower() in headings, f"{name} has no heading in RUNBOOK.md"


def test_the_dashboard_is_grafana_json_with_a_datasource_variable() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert 36 <= board["schemaVersion"] <= 41
    assert board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(dashboard_panels())
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    titles = {panel["title"] for panel in panels}
    assert titles >= PANELS, PANELS - titles
    for panel in panels:
        place = panel["gridPos"]
        assert place["x"] >= 0 and place["x"] + place["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_every_panel_query_is_promql_that_parses(tmp_path: Path) -> None:
    """promtool has no command for one expression: the panels' queries become recording rules
    of a file `promtool check rules` parses, one rule per query."""
    board = json.loads(DASHBOARD.read_text())
    rules = [
        {"record": f"dashboard:panel{panel['id']}_{target['refId']}", "expr": as_grafana_sends(e)}
        for panel in dashboard_panels()
        for target in panel.get("targets", ())
        if (e := target.get("expr"))
    ]
    rules += [
        {"record": f"dashboard:variable_{v['name']}", "expr": _variable_selector(v["definition"])}
        for v in board["templating"]["list"]
        if v["type"] == "query"
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", str(path))


def _variable_selector(definition: str) -> str:
    """`label_values(selector, label)` (Grafana's, not PromQL): its selector, to be parsed."""
    found = re.fullmatch(r"label_values\((.+),\s*\w+\)", definition)
    assert found, definition
    return as_grafana_sends(found[1])


async def test_every_series_read_is_one_the_product_exposes_and_all_are_shown() -> None:
    exposed = await exposed_series()
    board = json.loads(DASHBOARD.read_text())
    queries = {
        "rules.yml": [rule["expr"] for rule in alerting_rules()],
        "vq.json": [
            target["expr"] for panel in dashboard_panels() for target in panel.get("targets", ())
        ]
        + [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"],
    }
    for where, exprs in queries.items():
        for expr in exprs:
            for name in re.findall(r"\bvq_[a-z0-9_]+", expr):
                assert name in exposed, f"{where}: {name} is not a series of observability/"
    shown = set(re.findall(r"\bvq_[a-z0-9_]+", DASHBOARD.read_text()))
    missing = {_family(name) for name in exposed} - {_family(name) for name in shown}
    assert not missing, f"the dashboard does not show {sorted(missing)}"


def _family(series: str) -> str:
    return re.sub(r"_(bucket|count|sum)$", "", series)


async def exposed_series() -> set[str]:
    """The sample names the product's metrics produce: those of observability/metrics.py's and
    topics/metrics.py's counters, gauges and histograms, and those the API's scrape-time collectors yield."""
    families: list[Metric] = [
        family
        for module in (metrics, topic_metrics)
        for value in vars(module).values()
        if isinstance(value, MetricWrapperBase)
        for family in value.collect()
    ]

    async def up() -> Lag | None:
        return None

    async def lag() -> Lag:
        return Lag(events=3, seconds=1.5, partitions={("vq.queue-events", 0): 3})

    readiness = Readiness(
        [Probe(part, up) for part in ("postgresql", "redis", "kafka")]
        + [Probe("relay_lag", lag), Probe("consumer_lag", lag)]
    )
    await readiness.report()
    families += ReadinessCollector(readiness, "vq-workers").collect()

    async def queues(limit: int) -> list[QueueFigures]:
        return [QueueFigures("t", "q", 3, 10, 600.0, 420.0, {"recent": 0.6})]

    figures = FiguresCollector(queues)
    await figures.refresh()
    families += figures.collect()
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    return {family.name + end for family in families for end in suffixes[family.type]}


def test_the_scrape_ports_are_those_of_vq_run_and_the_units() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["vq-api"] == ["127.0.0.1:8000"]  # VQ_API_PORT's default
    for name in ("relay", "notifier"):
        unit = (UNITS / f"vq-{name}.service").read_text()
        port = int(re.findall(r"^Environment=VQ_METRICS_PORT=(\d+)$", unit, re.M)[0])
        assert (
            targets[f"vq-{name}"] == [f"127.0.0.1:{port}"] == [f"127.0.0.1:{METRICS_PORTS[name]}"]
        )
    # vq-worker@PORT.service: the instance is the port; `vq run` runs the first one.
    assert f"127.0.0.1:{METRICS_PORTS['worker']}" in targets["vq-worker"]
    assert "VQ_METRICS_PORT=%i" in (UNITS / "vq-worker@.service").read_text()
