"""The cluster's versions have one home, terraform/variables.tf, and every tool and test reads them there.

A bump is one edit: nothing else in the tree's code, tests or manifests holds the pinned value as a string
literal (prose in Markdown and comments may quote it), and the readers follow an edited copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.gitops.validate import kubernetes_version
from tools.pins import ROOT_VARIABLES, HclError, pinned, variable_defaults

REPO_ROOT = Path(__file__).resolve().parents[2]

PINS = ("k3s_version", "argocd_chart_version")
CODE_SUFFIXES = {".py", ".tf", ".hcl", ".tfvars", ".sh", ".mk", ".yaml", ".yml", ".json", ".lua", ".toml"}


def second_homes(value: str, root: Path = REPO_ROOT) -> list[str]:
    """Lines of tracked code files, other than the home, that hold `value` as a quoted string literal.

    An escaped quote (`\\"v1.35.8+k3s1\\"` in a Terraform description) is an example in prose, not a pin.
    """
    literal = re.compile(r"(?<!\\)([\"'])" + re.escape(value) + r"\1")
    files = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout.split("\0")
    found = []
    for relative in filter(None, files):
        path = root / relative
        if relative == str(ROOT_VARIABLES) or not path.is_file():
            continue
        if path.suffix not in CODE_SUFFIXES and path.name != "Makefile":
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.lstrip().startswith(("#", "//")) and literal.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("name", PINS)
def test_nothing_but_the_home_holds_the_pin(name):
    assert second_homes(pinned(name)) == [], f"read {name} with tools.pins.pinned() instead"


def test_a_second_literal_is_found(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "terraform").mkdir()
    shutil.copy(REPO_ROOT / ROOT_VARIABLES, tmp_path / ROOT_VARIABLES)
    version = pinned("k3s_version")
    (tmp_path / "fixture.py").write_text(
        f'INPUTS = {{"k3s_version": "{version}"}}\n# "{version}" in a comment\n'
    )
    (tmp_path / "variables.tf").write_text(f'description = "e.g. \\"{version}\\""\n')
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    assert second_homes(version, tmp_path) == [f'fixture.py:1: INPUTS = {{"k3s_version": "{version}"}}']


def test_a_bump_in_a_copy_is_read_by_every_reader(tmp_path):
    (tmp_path / "terraform").mkdir()
    text = (REPO_ROOT / ROOT_VARIABLES).read_text()
    major, minor, _ = kubernetes_version(REPO_ROOT).split(".")
    bumps = {"k3s_version": f"v{major}.{int(minor) + 1}.1+k3s2", "argocd_chart_version": "99.0.1"}
    for name, new in bumps.items():
        old = re.compile(r'(default\s*=\s*)"' + re.escape(pinned(name)) + '"')
        text, replaced = old.subn(lambda match, new=new: f'{match[1]}"{new}"', text)
        assert replaced == 1, f"{name}'s default should appear once in {ROOT_VARIABLES}"
    (tmp_path / ROOT_VARIABLES).write_text(text)
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
