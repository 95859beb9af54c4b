"""Without a cluster: the HPA rules scenario 6 checks against, and the harness's host-run pods' set-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pod_runner
import pytest
import yaml
from live_helpers import REPO_ROOT
from metrics_helpers import rules, step_limit

HPA = {
    "spec": {
        "minReplicas": 2,
        "maxReplicas": 8,
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 10, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 200, "periodSeconds": 30},
                {"type": "Pods", "value": 4, "periodSeconds": 30}]},
            "scaleDown": {"stabilizationWindowSeconds": 30, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 50, "periodSeconds": 30}]},
        },
    }
}  # fmt: skip


def test_scale_up_is_limited_by_the_replicas_one_period_earlier() -> None:
    assert step_limit(HPA, "up", [(0, 2)], 10) == 6  # max(2 + 200 %, 2 + 4)
    assert step_limit(HPA, "up", [(0, 2), (10, 6)], 39) == 6  # 2 was in force 30 s before
    assert step_limit(HPA, "up", [(0, 2), (10, 6)], 41) == 8  # 18 by the policy, maxReplicas 8


def test_scale_down_halves_at_most_per_period_and_stops_at_min() -> None:
    assert step_limit(HPA, "down", [(0, 8)], 40) == 4
    assert step_limit(HPA, "down", [(0, 8), (40, 4)], 69) == 4
    assert step_limit(HPA, "down", [(0, 8), (40, 4)], 71) == 2


def test_select_policy_min_takes_the_smaller_change() -> None:
    hpa = yaml.safe_load(yaml.safe_dump(HPA))
    hpa["spec"]["behavior"]["scaleUp"]["selectPolicy"] = "Min"
    assert step_limit(hpa, "up", [(0, 4)], 10) == 8  # min(4 + 200 % = 12, 4 + 4 = 8)


def test_missing_behavior_takes_the_api_servers_defaults() -> None:
    bare = {"spec": {"minReplicas": 2, "maxReplicas": 8}}
    assert rules(bare, "down")["stabilizationWindowSeconds"] == 300
    assert step_limit(bare, "down", [(0, 8)], 400) == 2  # 100 % per 15 s
    assert step_limit(bare, "up", [(0, 2)], 1) == 6  # max(+100 %, +4)


def test_the_checks_schedule_is_shortened_in_the_clone_only(tmp_path: Path) -> None:
    for relative in pod_runner.RUN_ON_HOST:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, tmp_path / relative)
    assert pod_runner.shorten_schedules(tmp_path) == list(pod_runner.RUN_ON_HOST)
    for relative in pod_runner.RUN_ON_HOST:
        assert yaml.safe_load((tmp_path / relative).read_text())["spec"]["schedule"] == pod_runner.SCHEDULE
        assert yaml.safe_load((REPO_ROOT / relative).read_text())["spec"]["schedule"] != pod_runner.SCHEDULE
    assert pod_runner.shorten_schedules(tmp_path) == []


def test_a_schedule_the_harness_cannot_find_is_a_clear_error(tmp_path: Path) -> None:
    (relative,) = pod_runner.RUN_ON_HOST[:1]
    (tmp_path / relative).parent.mkdir(parents=True)
    text = (
        (REPO_ROOT / relative).read_text().replace('schedule: "', "schedule: '").replace(' *"\n', " *'\n", 1)
    )
    (tmp_path / relative).write_text(text)
    with pytest.raises(pod_runner.RunnerError, match="cannot find"):
        pod_runner.shorten_schedules(tmp_path)


def test_host_run_stages_hold_then_end_only_the_selected_pods() -> None:
    labels = pod_runner.workloads(REPO_ROOT)
    hold, exit_ = pod_runner.stages(labels[:1])
    for stage in (hold, exit_):
        assert stage["spec"]["weight"] > 0, "kwok's pod-complete (weight 0) would win half the time"
        keys = {e["key"]: e for e in stage["spec"]["selector"]["matchExpressions"]}
        for key, value in labels[0].items():
            assert keys[f'.metadata.labels["{key}"]']["values"] == [value]
    annotation = f'.metadata.annotations["{pod_runner.EXIT_CODE}"]'
    assert {e["key"]: e["operator"] for e in hold["spec"]["selector"]["matchExpressions"]}[annotation] == (
        "DoesNotExist"
    )
    assert {e["key"]: e["operator"] for e in exit_["spec"]["selector"]["matchExpressions"]}[annotation] == (
        "Exists"
    )


def test_the_runner_fills_in_the_checks_env_as_the_kubelet_would() -> None:
    (relative,) = pod_runner.RUN_ON_HOST[:1]
    template = yaml.safe_load((REPO_ROOT / relative).read_text())["spec"]["jobTemplate"]["spec"]["template"]
    pod = {"metadata": {"name": "check-now-x7k2p", "namespace": "kube-system"}, "spec": template["spec"]}
    (container,) = pod["spec"]["containers"]
    env = {variable["name"]: pod_runner.env_value(pod, variable) for variable in container.get("env", [])}
    assert env == {"CHECK_CRONJOB_NAME": "metrics-server-check", "CHECK_CRONJOB_NAMESPACE": "kube-system"}


def test_an_env_source_the_runner_cannot_fill_is_a_clear_error() -> None:
    variable = {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    with pytest.raises(pod_runner.RunnerError, match=r"env NODE: only literal values and fieldRefs to"):
        pod_runner.env_value({"metadata": {}}, variable)
