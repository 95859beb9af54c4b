"""Scenario 3: what Argo CD applied is what tools/gitops renders, object by object, field by field.

Every field the renderer emits must be in the live object with the same value; fields the API server or
a controller add (defaults, status, uid, Argo CD's tracking annotation) are ignored, and so are the fields
an Application tells Argo CD to ignore (ignoreDifferences, e.g. the HPA-owned replicas).
"""

from __future__ import annotations

import re

import pytest
from live_helpers import Live, Timeline

from tools.gitops.render import render_cluster

HOOK = "argocd.argoproj.io/hook"
SERVER_SET = {"metadata": {"creationTimestamp", "generation", "resourceVersion", "uid", "managedFields"}}
QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G)?$")
FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def same_quantity(want: object, got: object) -> bool:
    """`0.5` and `500m`, `1Gi` and `1024Mi`: the API server normalises resource quantities."""
    if not (isinstance(want, str | int | float) and isinstance(got, str | int | float)):
        return False
    a, b = QUANTITY.match(str(want)), QUANTITY.match(str(got))
    return bool(a and b) and float(a[1]) * FACTORS[a[2]] == float(b[1]) * FACTORS[b[2]]


def differences(want: object, got: object, path: str, ignored: set[str]) -> list[str]:
    if path in ignored:
        return []
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '/'}: rendered an object, live has {got!r}"]
        found = []
        for key, value in want.items():
            child = f"{path}/{key.replace('~', '~0').replace('/', '~1')}"
            if child in ignored:
                continue
            if key not in got:
                found.append(f"{child}: rendered {value!r}, missing in the live object")
            else:
                found += differences(value, got[key], child, ignored)
        return found
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: rendered {want!r}, live has {got!r}"]
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, f"{path}/{i}", ignored)
        ]
    if want == got or same_quantity(want, got):
        return []
    return [f"{path}: rendered {want!r}, live has {got!r}"]


def ignored_pointers(application: dict, resource: dict) -> set[str]:
    pointers = set()
    for rule in application.get("spec", {}).get("ignoreDifferences", []):
        group = resource["apiVersion"].split("/")[0] if "/" in resource["apiVersion"] else ""
        if rule.get("kind") != resource["kind"] or rule.get("group", "") != group:
            continue
        if rule.get("name") not in (None, resource["metadata"]["name"]):
            continue
        pointers.update(rule.get("jsonPointers", []))
    return pointers


def live_kind(resource: dict) -> str:
    api_version = resource["apiVersion"]
    group = api_version.split("/")[0] if "/" in api_version else ""
    return f"{resource['kind']}.{api_version.split('/')[-1]}.{group}" if group else resource["kind"]


def test_live_objects_match_the_renderer(live: Live, bootstrap: Timeline) -> None:
    rendering = render_cluster(live.work, "prod")
    problems, compared, hooks = [], 0, []
    for app, resource in rendering.resources():
        metadata = resource["metadata"]
        if HOOK in metadata.get("annotations", {}):
            hooks.append(f"{resource['kind']}/{metadata['name']}")  # created only when its app syncs
            continue
        if app.application["spec"].get("syncPolicy", {}).get("automated") is None:
            continue  # a manual Application (loadtest) is not applied until someone syncs it
        args = [live_kind(resource), metadata["name"]]
        if metadata.get("namespace"):
            args += ["-n", metadata["namespace"]]
        got = live.try_get(*args)
        where = (
            f"Application {app.name}, {resource['kind']} {metadata.get('namespace', '')}/{metadata['name']}"
        )
        if got is None:
            problems.append(f"{where}: rendered, but not in the cluster")
            continue
        compared += 1
        want = {k: v for k, v in resource.items() if k != "status"}
        for problem in differences(want, got, "", ignored_pointers(app.application, resource)):
            problems.append(f"{where}: {problem}")
    assert compared, "nothing compared"
    assert not problems, "Argo CD applied something else than tools/gitops renders:\n" + "\n".join(problems)
    print(f"compared {compared} objects; skipped hooks {hooks}")


@pytest.mark.parametrize(
    ("want", "got", "equal"),
    [("500m", "500m", True), ("0.5", "500m", True), ("1Gi", "1024Mi", True), ("256Mi", "257Mi", False)],
)
def test_quantities_compare_by_value(want: str, got: str, equal: bool) -> None:
    assert same_quantity(want, got) is equal


def test_a_changed_field_is_reported_with_its_path() -> None:
    want = {"spec": {"ports": [{"port": 80}], "replicas": 2}}
    got = {"spec": {"ports": [{"port": 8080, "protocol": "TCP"}], "replicas": 5}}
    assert differences(want, got, "", {"/spec/replicas"}) == [
        "/spec/ports/0/port: rendered 80, live has 8080"
    ]
