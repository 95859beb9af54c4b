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
from lupa import lua51

from tools.gitops.validate import SCHEMA_DIR, schema_errors

# One folder for every schema of a kind or chart values we write, whoever renders them.
SCHEMAS = SCHEMA_DIR
APPLICATION_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
# The Lua libraries Argo CD opens for a health check (its `os` is a safe subset): no io, string, debug.
ARGOCD_LUA_LIBRARIES = {"package", "table", "os"}
STANDARD_LUA_LIBRARIES = {"coroutine", "debug", "io", "math", "os", "package", "string", "table"}


def load_schema(relative: str) -> dict:
    return json.loads((SCHEMAS / relative).read_text())


def argocd_values(rendered: dict) -> dict:
    return yaml.safe_load(rendered["argocd_helmchart"]["spec"]["valuesContent"])


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


# --- the Application health check, run as Argo CD runs it ----------------------------------------


@pytest.fixture(scope="module")
def health_script(rendered: dict) -> str:
    script = argocd_values(rendered)["configs"]["cm"][APPLICATION_HEALTH_KEY]
    assert isinstance(script, str), "argocd-cm values are strings"
    return script


def application_health(script: str, application: dict) -> tuple[str, str]:
    """Run the health check on an Application the way Argo CD does: global `obj`, returned table."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    lua_globals = lua.globals()
    for library in STANDARD_LUA_LIBRARIES - ARGOCD_LUA_LIBRARIES:
        lua_globals[library] = None
    lua_globals.python = None
    lua_globals.obj = lua.table_from(application, recursive=True)
    result = lua.execute(script)
    return result["status"], result["message"]


def child(status: dict | None = None) -> dict:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "platform"}}
    return app if status is None else {**app, "status": status}


@pytest.mark.parametrize(
    ("application", "health"),
    [
        # Just created by the root: the controller has not assessed it yet, so the wave must wait.
        (child(), ("Progressing", "")),
        (child({"sync": {"status": "OutOfSync"}}), ("Progressing", "")),
        (child({"health": {}}), ("Progressing", "")),
        (child({"health": {"status": "Progressing"}}), ("Progressing", "")),
        (child({"health": {"status": "Healthy"}}), ("Healthy", "")),
        (
            child({"health": {"status": "Degraded", "message": "Deployment exceeded its progress deadline"}}),
            ("Degraded", "Deployment exceeded its progress deadline"),
        ),
        (child({"health": {"status": "Missing"}}), ("Missing", "")),
        (child({"health": {"status": "Suspended", "message": "paused"}}), ("Suspended", "paused")),
    ],
)
def test_a_child_application_reports_the_health_argo_cd_computed_for_it(
    health_script: str, application: dict, health: tuple[str, str]
) -> None:
    assert application_health(health_script, application) == health
