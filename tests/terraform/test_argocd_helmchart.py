"""The HelmChart that installs Argo CD at bootstrap, and the Application health check it configures.

- The HelmChart has only fields K3s's helm-controller knows, and values the argo-cd chart knows.
- argocd-cm gets a health check for argoproj.io/Application, run here with Lua 5.1 (Argo CD's
  gopher-lua speaks 5.1) the way Argo CD runs it: `obj` is the child Application, the script returns
  its health. Without it the root's sync waves would not wait for a child to become healthy.
"""

from __future__ import annotations

import json

import pytest
import yaml
from health_cases import (
    APPLICATION_CASES,
    APPLICATION_HEALTH_KEY,
    CRONJOB_CASES,
    CRONJOB_HEALTH_KEY,
    REVISION,
    argocd_values,
)
from lupa import lua51
from terraform_helpers import REPO_ROOT

from tools.gitops.validate import SCHEMA_DIR, schema_errors

# One folder for every schema of a kind or chart values we write, whoever renders them.
SCHEMAS = SCHEMA_DIR
# The Lua libraries Argo CD opens for a health check (its `os` is a safe subset): no io, string, debug.
ARGOCD_LUA_LIBRARIES = {"package", "table", "os"}
STANDARD_LUA_LIBRARIES = {"coroutine", "debug", "io", "math", "os", "package", "string", "table"}


def load_schema(relative: str) -> dict:
    return json.loads((SCHEMAS / relative).read_text())


# --- the HelmChart -------------------------------------------------------------------------------


def test_helmchart_has_only_fields_the_helm_controller_knows(rendered: dict) -> None:
    chart = rendered["argocd_helmchart"]
    assert schema_errors(chart, load_schema("helm.cattle.io/helmchart_v1.json")) == []
    assert chart["spec"]["createNamespace"] is True, "nothing else creates the argocd namespace"


def test_argocd_values_are_keys_of_the_argo_cd_chart(rendered: dict) -> None:
    assert schema_errors(argocd_values(rendered), load_schema("values/argo-cd.json")) == []


@pytest.mark.parametrize(
    "typo",
    [
        {"dex": {"enable": False}},
        {"config": {"cm": {APPLICATION_HEALTH_KEY: "return {}"}}},
        {"configs": {"cm": {"resource.customizations.health.argoproj.io/Application": "return {}"}}},
    ],
)
def test_values_schema_catches_what_helm_would_ignore(typo: dict) -> None:
    assert schema_errors(typo, load_schema("values/argo-cd.json"))


# --- the health checks, run as Argo CD runs them -------------------------------------------------


def health_script(rendered: dict, key: str) -> str:
    script = argocd_values(rendered)["configs"]["cm"][key]
    assert isinstance(script, str), "argocd-cm values are strings"
    return script


@pytest.fixture(scope="module")
def application_script(rendered: dict) -> str:
    return health_script(rendered, APPLICATION_HEALTH_KEY)


@pytest.fixture(scope="module")
def cronjob_script(rendered: dict) -> str:
    return health_script(rendered, CRONJOB_HEALTH_KEY)


def run_health(script: str, resource: dict) -> tuple[str, str]:
    """Run a health check the way Argo CD does: global `obj`, only its libraries, a returned table."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    lua_globals = lua.globals()
    for library in STANDARD_LUA_LIBRARIES - ARGOCD_LUA_LIBRARIES:
        lua_globals[library] = None
    lua_globals.python = None
    lua_globals.obj = lua.table_from(resource, recursive=True)
    result = lua.execute(script)
    return result["status"], result["message"]


@pytest.mark.parametrize(
    ("application", "status", "message_part"),
    APPLICATION_CASES,
)
def test_a_child_application_is_healthy_only_when_synced_without_a_failed_sync(
    application_script: str, application: dict, status: str, message_part: str
) -> None:
    got_status, got_message = run_health(application_script, application)
    assert got_status == status, got_message
    assert message_part in got_message


def prod_children() -> list[dict]:
    docs = [yaml.safe_load(path.read_text()) for path in sorted((REPO_ROOT / "clusters/prod").glob("*.yaml"))]
    return [
        doc for doc in docs if doc and doc.get("kind") == "Application" and doc["metadata"]["name"] != "root"
    ]


@pytest.mark.parametrize("application", prod_children(), ids=lambda app: app["metadata"]["name"])
def test_every_child_of_prod_can_let_the_next_wave_go(application_script: str, application: dict) -> None:
    # Each child in its resting state: automated ones Synced after a successful sync, the load test
    # OutOfSync and never run (nobody has pressed Sync yet). Neither may hold the root's waves forever.
    automated = application["spec"].get("syncPolicy", {}).get("automated") is not None
    status = {"health": {"status": "Healthy"}, "sync": {"status": "Synced" if automated else "OutOfSync"}}
    if automated:
        status["operationState"] = {"phase": "Succeeded", "syncResult": {"revision": REVISION}}
        status["sync"]["revision"] = REVISION
    assert run_health(application_script, {**application, "status": status})[0] == "Healthy"
    if automated:
        out_of_sync = {**status, "sync": {"status": "OutOfSync", "revision": REVISION}}
        assert run_health(application_script, {**application, "status": out_of_sync})[0] == "Progressing"


# --- the CronJob health check (the metrics-server check) ------------------------------------------


@pytest.mark.parametrize(
    ("resource", "status", "message_part"),
    CRONJOB_CASES,
)
def test_a_cronjob_is_degraded_when_its_last_finished_run_failed(
    cronjob_script: str, resource: dict, status: str, message_part: str
) -> None:
    got_status, got_message = run_health(cronjob_script, resource)
    assert got_status == status, got_message
    assert message_part in got_message


def test_the_metrics_server_check_is_a_cronjob_the_custom_check_applies_to() -> None:
    # The key names group_Kind of the CronJob in platform/; a CronJob under another group or version
    # would silently fall back to the built-in check.
    cron = yaml.safe_load((REPO_ROOT / "platform/metrics-server-check/cronjob.yaml").read_text())
    group = cron["apiVersion"].split("/")[0]
    assert f"resource.customizations.health.{group}_{cron['kind']}" == CRONJOB_HEALTH_KEY
