"""Generate kubeconform's schemas for the built-in kinds, offline, from the pinned kubernetes-validate.

kubernetes-validate ships strict JSON schemas per Kubernetes minor (vX.Y.0-local-strict/<kind>.json), but
every type in them is a `$ref` into one shared _definitions.json by an absolute URI
(`/api/_definitions.json#/$defs/...`) that kubeconform cannot follow. This script rewrites each kind into
a standalone file: the definitions the kind reaches (and only those) are copied into the file's own
`$defs` and every `$ref` points there, so recursive types (JSONSchemaProps) stay exact. Output:

    $CACHE/kubeconform-schemas/<key>/vX.Y.0-standalone-strict/<kind>[-<group>]-<version>.json

which is kubeconform's default layout, so one -schema-location template finds every file. <key> hashes
the kubernetes-validate version and this file, so a new pin or a change here regenerates; generation goes
to a temporary folder renamed into place. $CACHE is tools/gotools.py's cache root.

    python -m tools.gitops.kube_schemas --kubernetes-version 1.35.0    # prints the schema root
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import kubernetes_validate

from tools.gotools import cache_root, locked

DEFINITIONS = "_definitions.json"
SHARED_REF = "/api/_definitions.json#/$defs/"
LOCAL_REF = "#/$defs/"
# kubeconform's -schema-location template for the generated files.
TEMPLATE = (
    "{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json"
)


class SchemaError(Exception):
    pass


def source_dir(version: str) -> Path:
    """kubernetes-validate's strict schemas for `version` (1.35.0)."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    directory = root / f"v{version}-local-strict"
    if not (directory / DEFINITIONS).is_file():
        shipped = sorted(p.name.removesuffix("-local-strict")[1:] for p in root.glob("v*-local-strict"))
        raise SchemaError(
            f"kubernetes-validate {metadata.version('kubernetes-validate')} has no strict schemas for "
            f"Kubernetes {version} (it ships {', '.join(shipped)}); upgrade it in requirements-dev.txt"
        )
    return directory


def refs(node: object):
    """Every definition name a schema node refers to."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(SHARED_REF).removeprefix(LOCAL_REF)
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def localise(node: object) -> object:
    """The node with every $ref pointing into the file's own $defs."""
    if isinstance(node, dict):
        result = {key: localise(value) for key, value in node.items()}
        ref = result.get("$ref")
        if isinstance(ref, str) and ref.startswith((SHARED_REF, LOCAL_REF)):
            result["$ref"] = LOCAL_REF + ref.removeprefix(SHARED_REF).removeprefix(LOCAL_REF)
        return result
    if isinstance(node, list):
        return [localise(value) for value in node]
    return node


def standalone(schema: dict, definitions: dict[str, dict], name: str) -> dict:
    reached: dict[str, dict] = {}
    pending = list(refs(schema))
    while pending:
        ref = pending.pop()
        if ref in reached:
            continue
        if ref not in definitions:
            raise SchemaError(f"{name}: $ref to {ref!r}, which {DEFINITIONS} does not define")
        reached[ref] = definitions[ref]
        pending.extend(refs(definitions[ref]))
    result = localise({key: value for key, value in schema.items() if key != "$id"})
    if reached:
        result["$defs"] = {ref: localise(reached[ref]) for ref in sorted(reached)}
    return result


def generate(version: str, target: Path) -> int:
    """Write the standalone schemas of `version` into target/v<version>-standalone-strict; count them."""
    source = source_dir(version)
    definitions = json.loads((source / DEFINITIONS).read_text())["$defs"]
    out = target / f"v{version}-standalone-strict"
    out.mkdir(parents=True)
    count = 0
    for path in sorted(source.glob("*.json")):
        if path.name in (DEFINITIONS, "all.json"):
            continue
        schema = standalone(json.loads(path.read_text()), definitions, path.name)
        (out / path.name).write_text(json.dumps(schema, sort_keys=True))
        count += 1
    return count


def schema_root(version: str, root: Path | None = None) -> Path:
    """The folder to put before TEMPLATE, with `version`'s schemas in it (generated once)."""
    source_dir(version)  # a version the package lacks is an error before anything is written
    digest = hashlib.sha256()
    digest.update(metadata.version("kubernetes-validate").encode() + b"\0")
    digest.update(Path(__file__).read_bytes())
    base = (root or cache_root()) / "kubeconform-schemas"
    final = base / digest.hexdigest()[:16]
    if (final / f"v{version}-standalone-strict").is_dir():
        return final
    with locked(base / f"{final.name}.lock"):
        if (final / f"v{version}-standalone-strict").is_dir():
            return final
        final.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=final))
        try:
            generate(version, temporary)
            (temporary / f"v{version}-standalone-strict").rename(final / f"v{version}-standalone-strict")
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kubernetes-version", required=True, help="e.g. 1.35.0")
    args = parser.parse_args(argv)
    try:
        print(schema_root(args.kubernetes_version))
    except SchemaError as error:
        print(f"kube_schemas: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
