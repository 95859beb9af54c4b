"""The built-in kinds' schemas for kubeconform: standalone, exact, generated once per pin."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tools.gitops.kube_schemas import SchemaError, schema_root, standalone

VERSION = "1.35.0"


@pytest.fixture(scope="module")
def schemas():
    return schema_root(VERSION) / f"v{VERSION}-standalone-strict"


def test_every_ref_stays_inside_its_file(schemas):
    files = sorted(schemas.glob("*.json"))
    assert len(files) > 700
    for path in files:
        text = path.read_text()
        assert "_definitions.json" not in text, path.name
        schema = json.loads(text)
        for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
            assert ref.startswith("#/$defs/"), (path.name, ref)
            assert ref.removeprefix("#/$defs/") in schema["$defs"], (path.name, ref)


def test_a_recursive_kind_keeps_its_exact_schema(schemas):
    """CustomResourceDefinition's JSONSchemaProps refers to itself: it must not be cut off or inlined."""
    schema = json.loads((schemas / "customresourcedefinition-apiextensions-v1.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"properties": {"a": {"properties": {"b": {}}}}}},
                }
            ],
        },
    }
    assert list(validator.iter_errors(crd)) == []
    nested = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["a"]
    nested["properties"]["b"] = {"typo": True}  # three levels down: still checked, still strict
    assert any("'typo'" in error.message for error in validator.iter_errors(crd))


def test_standalone_copies_only_what_a_kind_reaches():
    definitions = {
        "A": {"properties": {"b": {"$ref": "/api/_definitions.json#/$defs/B"}}},
        "B": {"items": {"$ref": "#/$defs/B"}},
        "unused": {"type": "string"},
    }
    kind = {
        "$id": "https://kubernetes.io/api/x",
        "properties": {"a": {"$ref": "/api/_definitions.json#/$defs/A"}},
    }
    result = standalone(kind, definitions, "x.json")
    assert "$id" not in result
    assert result["properties"]["a"] == {"$ref": "#/$defs/A"}
    assert result["$defs"] == {
        "A": {"properties": {"b": {"$ref": "#/$defs/B"}}},
        "B": {"items": {"$ref": "#/$defs/B"}},
    }


def test_a_dangling_ref_is_named():
    with pytest.raises(SchemaError, match=r"x\.json: \$ref to 'Gone'"):
        standalone({"$ref": "#/$defs/Gone"}, {}, "x.json")


def test_a_version_the_package_lacks_is_named():
    with pytest.raises(SchemaError, match=r"no strict schemas for Kubernetes 1\.99\.0"):
        schema_root("1.99.0")
