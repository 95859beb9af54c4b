"""The cluster's versions have one home, terraform/variables.tf, and every tool and test reads them there.

A bump is one edit: nothing else in the tree (code, tests, manifests, comments or prose) holds the pinned
value, and the readers follow an edited copy of the whole tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.gitops.validate import kubernetes_version, validate_cluster
from tools.pins import ROOT_VARIABLES, HclError, pinned, variable_defaults

REPO_ROOT = Path(__file__).resolve().parents[2]

PINS = ("k3s_version", "argocd_chart_version")
# Files owned by other work that still quote a pin in prose; an entry that no longer holds fails, so this
# only shrinks. (path, pin name)
KNOWN = {
    ("tools/cluster/README.md", "k3s_version"),
    ("tools/cluster/README.md", "argocd_chart_version"),
    ("tests/live/test_0_pins.py", "k3s_version"),
}


def tracked(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, text=True, check=True
    )
    return [name for name in listed.stdout.split("\0") if name and (root / name).is_file()]


def second_homes(value: str, root: Path = REPO_ROOT, files: list[str] | None = None) -> list[str]:
    """Every line of a tracked file that holds `value`, code, comment or prose, except the home's default.

    A bump is then one edit: nothing else can go stale. Examples in prose use a shape (`vX.Y.Z+k3sN`)."""
    token = re.compile(r"(?<![\w.+-])" + re.escape(value) + r"(?![\w+-]|\.\d)")
    home = re.compile(r'^\s*default\s*=\s*"' + re.escape(value) + '"\\s*$')
    found = []
    for relative in tracked(root) if files is None else files:
        try:
            text = (root / relative).read_text()
        except UnicodeDecodeError:
            continue  # binary
        for number, line in enumerate(text.splitlines(), 1):
            if token.search(line) and not (relative == str(ROOT_VARIABLES) and home.match(line)):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("name", PINS)
def test_nothing_but_the_home_holds_the_pin(name):
    found = second_homes(pinned(name))
    new = [line for line in found if (line.split(":")[0], name) not in KNOWN]
    assert new == [], f"read {name} with tools.pins.pinned(), or name its home in prose instead of the value"
    fixed = sorted(
        path for path, pin in KNOWN if pin == name and not any(line.startswith(f"{path}:") for line in found)
    )
    assert fixed == [], f"no longer quote {name}, so delete them from KNOWN: {fixed}"


def test_a_second_copy_is_found_in_code_comments_and_prose(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "terraform").mkdir()
    shutil.copy(REPO_ROOT / ROOT_VARIABLES, tmp_path / ROOT_VARIABLES)
    version = pinned("k3s_version")
    (tmp_path / "fixture.py").write_text(
        f'INPUTS = {{"k3s_version": "{version}"}}\n# {version} in a comment\n'
    )
    (tmp_path / "README.md").write_text(f"K3s {version} ships Traefik; not v{version[1:]}0 or {version}0.\n")
    (tmp_path / "other.tf").write_text(f'description = "e.g. \\"{version}\\""\n')
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    assert sorted(second_homes(version, tmp_path)) == [
        f"README.md:1: K3s {version} ships Traefik; not v{version[1:]}0 or {version}0.",
        f'fixture.py:1: INPUTS = {{"k3s_version": "{version}"}}',
        f"fixture.py:2: # {version} in a comment",
        f'other.tf:1: description = "e.g. \\"{version}\\""',
    ]


def bump(text: str, bumps: dict[str, str]) -> str:
    for name, new in bumps.items():
        old = re.compile(r'(default\s*=\s*)"' + re.escape(pinned(name)) + '"')
        text, replaced = old.subn(lambda match, new=new: f'{match[1]}"{new}"', text)
        assert replaced == 1, f"{name}'s default should appear once in {ROOT_VARIABLES}"
    return text


def test_a_bump_in_a_copy_of_the_tree_needs_no_other_edit(tmp_path):
    """A new K3s patch release and a new chart: edit the two defaults in a copy of every tracked file, and
    nothing in the tree still names the old versions while every reader follows. (A new Kubernetes minor
    also needs a kubernetes-validate that knows it, and tools/go/kubernetes for the live cluster.)"""
    files = tracked(REPO_ROOT)
    for relative in files:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, tmp_path / relative)
    old = {name: pinned(name) for name in PINS}
    k3s = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)", old["k3s_version"])
    major, minor, patch = old["argocd_chart_version"].split(".")
    bumps = {
        "k3s_version": f"v{k3s[1]}.{k3s[2]}.{int(k3s[3]) + 1}+k3s{int(k3s[4]) + 1}",
        "argocd_chart_version": f"{major}.{minor}.{int(patch) + 1}",
    }
    (tmp_path / ROOT_VARIABLES).write_text(bump((REPO_ROOT / ROOT_VARIABLES).read_text(), bumps))
    for name, value in old.items():
        stale = [
            line for line in second_homes(value, tmp_path, files) if (line.split(":")[0], name) not in KNOWN
        ]
        assert stale == [], f"after the bump these still name the old {name}"
    assert {name: pinned(name, tmp_path) for name in PINS} == bumps
    assert kubernetes_version(tmp_path) == kubernetes_version(REPO_ROOT)
    printed = subprocess.run(
        [sys.executable, "-m", "tools.pins"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert {f"{name}={value}" for name, value in bumps.items()} <= set(printed.splitlines())
    # The manifest checks say of the bumped copy exactly what they say of the tree.
    assert validate_cluster(tmp_path, "prod") == validate_cluster(REPO_ROOT, "prod")


def test_a_new_minor_is_read_by_every_reader(tmp_path):
    (tmp_path / "terraform").mkdir()
    major, minor, _ = kubernetes_version(REPO_ROOT).split(".")
    bumps = {"k3s_version": f"v{major}.{int(minor) + 1}.1+k3s2", "argocd_chart_version": "99.0.1"}
    (tmp_path / ROOT_VARIABLES).write_text(bump((REPO_ROOT / ROOT_VARIABLES).read_text(), bumps))
    assert {name: pinned(name, tmp_path) for name in PINS} == bumps
    assert kubernetes_version(tmp_path) == f"{major}.{int(minor) + 1}.0"


def test_the_defaults_are_unquoted():
    defaults = variable_defaults(REPO_ROOT / ROOT_VARIABLES)
    assert re.fullmatch(r"v\d+\.\d+\.\d+\+k3s\d+", str(defaults["k3s_version"]))
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(defaults["argocd_chart_version"]))


def test_bad_files_and_names_are_clear_errors(tmp_path):
    (tmp_path / "terraform").mkdir()
    with pytest.raises(HclError, match="cannot read"):
        pinned("k3s_version", tmp_path)
    (tmp_path / ROOT_VARIABLES).write_text('variable "k3s_version" {\n')
    with pytest.raises(HclError, match="cannot parse"):
        pinned("k3s_version", tmp_path)
    (tmp_path / ROOT_VARIABLES).write_text('variable "k3s_version" {\n  type = string\n}\n')
    with pytest.raises(HclError, match="no string default"):
        pinned("k3s_version", tmp_path)
    with pytest.raises(HclError, match="declares no variable argocd_chart_version"):
        pinned("argocd_chart_version", tmp_path)


def test_the_command_line_prints_one_pin():
    result = subprocess.run(
        [sys.executable, "-m", "tools.pins", "k3s_version"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, pinned("k3s_version"))


GO_VERSION = Path("tools/go/go-version")


def go_versions_in_prose(root: Path, files: list[str]) -> list[str]:
    """Markdown lines naming a Go toolchain version other than tools/go/go-version's.

    Go's version also sits in every tools/go/*/go.mod (Go requires it there), so it cannot have one
    literal; prose that names it (measurements are tied to it) must name the pinned one."""
    pinned_go = (root / GO_VERSION).read_text().strip()
    mention = re.compile(r"\bGo (\d+\.\d+\.\d+)\b")
    return [
        f"{relative}:{number}: {line.strip()}"
        for relative in files
        if relative.endswith(".md")
        for number, line in enumerate((root / relative).read_text().splitlines(), 1)
        if any(version != pinned_go for version in mention.findall(line))
    ]


def test_prose_names_the_pinned_go_version():
    assert go_versions_in_prose(REPO_ROOT, tracked(REPO_ROOT)) == [], f"the pinned Go is in {GO_VERSION}"


def test_a_stale_go_version_in_prose_is_found(tmp_path):
    (tmp_path / "tools/go").mkdir(parents=True)
    (tmp_path / GO_VERSION).write_text("1.26.6\n")
    (tmp_path / "README.md").write_text("built with Go 1.26.6\nmeasured with Go 1.25.1\n")
    assert go_versions_in_prose(tmp_path, ["README.md"]) == ["README.md:2: measured with Go 1.25.1"]
