"""The tag tool: it changes exactly the newTag value, refuses what it must, says when nothing is to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from workflow_helpers import TAG_TOOL

# Comments, blank lines, odd spacing and both quoting styles: everything the tool must leave alone.
KUSTOMIZATION = """\
# The images, set in one place.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - backend   # the API

images:
  # CI rewrites newTag only.
  - name: stock-backend
    newName: ghcr.io/stock-gitops/stock-backend
    newTag: 0.1.0   # first release
  - name: stock-frontend
    newTag: "0.1.0"
    newName: registry.example.com:5000/team/stock-frontend
  - name: sidecar
    newName: busybox
    newTag: '1.36'
"""


@pytest.fixture
def kustomization(tmp_path: Path) -> Path:
    path = tmp_path / "kustomization.yaml"
    path.write_text(KUSTOMIZATION)
    return path


def run(tag_tool: ModuleType, path: Path, *args: str) -> int:
    return tag_tool.main(["--file", str(path), *args])


def test_sets_exactly_the_tag_characters(tag_tool: ModuleType, kustomization: Path, capsys) -> None:
    assert run(tag_tool, kustomization, "--image", "stock-backend", "--tag", "sha-0123456789ab") == 0
    expected = KUSTOMIZATION.replace("newTag: 0.1.0   #", "newTag: sha-0123456789ab   #")
    assert kustomization.read_text() == expected
    assert "stock-backend: 0.1.0 -> sha-0123456789ab" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("image", "old", "new"),
    [
        ("stock-frontend", 'newTag: "0.1.0"', 'newTag: "sha-0123456789ab"'),
        ("sidecar", "newTag: '1.36'", "newTag: 'sha-0123456789ab'"),
    ],
)
def test_keeps_the_quoting_style(tag_tool: ModuleType, kustomization: Path, image, old, new) -> None:
    assert run(tag_tool, kustomization, "--image", image, "--tag", "sha-0123456789ab") == 0
    assert kustomization.read_text() == KUSTOMIZATION.replace(old, new)


def test_keeps_crlf_line_endings(tag_tool: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "kustomization.yaml"
    original = KUSTOMIZATION.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    assert run(tag_tool, path, "--image", "sidecar", "--tag", "1.37") == 0
    assert path.read_bytes() == original.replace(b"'1.36'", b"'1.37'")


def test_already_set_changes_nothing(tag_tool: ModuleType, kustomization: Path, capsys) -> None:
    assert run(tag_tool, kustomization, "--image", "stock-frontend", "--tag", "0.1.0") == 0
    assert kustomization.read_text() == KUSTOMIZATION
    assert "already at 0.1.0" in capsys.readouterr().out


def test_unknown_image_is_refused(tag_tool: ModuleType, kustomization: Path, capsys) -> None:
    assert run(tag_tool, kustomization, "--image", "stock-backnd", "--tag", "sha-0123456789ab") == 2
    err = capsys.readouterr().err
    assert "unknown image 'stock-backnd'" in err
    assert "sidecar, stock-backend, stock-frontend" in err
    assert kustomization.read_text() == KUSTOMIZATION


@pytest.mark.parametrize(
    "tag",
    ["", "-rc1", ".hidden", "sha 0123", "team/tag", "v1:2", "ümlaut", "a" * 129, "1.0\n", "latest", "LATEST"],
)
def test_malformed_or_mutable_tags_are_refused(
    tag_tool: ModuleType, kustomization: Path, tag, capsys
) -> None:
    assert run(tag_tool, kustomization, "--image", "stock-backend", f"--tag={tag}") == 2
    assert "tag" in capsys.readouterr().err
    assert kustomization.read_text() == KUSTOMIZATION


# No deadline: what is tested is the output, and a busy CI machine must not turn timing into a failure.
@settings(deadline=None)
@given(tag=st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z").filter(lambda t: t.lower() != "latest"))
def test_every_valid_tag_reads_back_as_that_string(tag_tool: ModuleType, tag: str) -> None:
    # Tags like 1.0, 010, true, null or 1e3 must be quoted or YAML would read a number or a boolean.
    text, _ = tag_tool.set_tag(KUSTOMIZATION, "stock-backend", tag, Path("k.yaml"))
    images = {image["name"]: image for image in yaml.safe_load(text)["images"]}
    assert images["stock-backend"]["newTag"] == tag
    rendered = tag_tool.render_scalar(tag, None)
    assert text == KUSTOMIZATION.replace("newTag: 0.1.0   #", f"newTag: {rendered}   #")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - name: stock-backend\n    newTag: 1\n    digest: sha256:abc\n", "pinned by `digest`"),
        ("  - name: stock-backend\n    newName: x\n", "no plain or quoted `newTag:`"),
        ("  - name: stock-backend\n    newTag: |\n      1\n", "no plain or quoted `newTag:`"),
        ("  - name: stock-backend\n    newTag: 1\n  - name: stock-backend\n    newTag: 2\n", "listed twice"),
        ("  - newTag: 1\n", "has no name"),
    ],
)
def test_kustomizations_it_cannot_edit_safely_are_refused(
    tag_tool: ModuleType, tmp_path: Path, entry: str, message: str, capsys
) -> None:
    path = tmp_path / "kustomization.yaml"
    path.write_text("images:\n" + entry)
    assert run(tag_tool, path, "--image", "stock-backend", "--tag", "sha-0123456789ab") == 2
    assert message in capsys.readouterr().err
    assert path.read_text() == "images:\n" + entry


@pytest.mark.parametrize(
    ("text", "message"), [("resources: []\n", "no `images:` list"), ("images: [\n", "not valid YAML")]
)
def test_files_without_images_are_refused(tag_tool, tmp_path: Path, text, message, capsys) -> None:
    path = tmp_path / "kustomization.yaml"
    path.write_text(text)
    assert run(tag_tool, path, "--image", "stock-backend", "--print-tag") == 2
    assert message in capsys.readouterr().err


def test_missing_file_is_a_clear_error(tag_tool: ModuleType, tmp_path: Path, capsys) -> None:
    assert run(tag_tool, tmp_path / "nope.yaml", "--image", "stock-backend", "--print-name") == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("image", "flag", "expected"),
    [
        ("stock-backend", "--print-name", "ghcr.io/stock-gitops/stock-backend"),
        ("stock-backend", "--print-registry", "ghcr.io"),
        ("stock-backend", "--print-tag", "0.1.0"),
        ("stock-frontend", "--print-registry", "registry.example.com:5000"),
        ("sidecar", "--print-registry", "docker.io"),
        ("sidecar", "--print-tag", "1.36"),
    ],
)
def test_prints(tag_tool: ModuleType, kustomization: Path, image, flag, expected, capsys) -> None:
    assert run(tag_tool, kustomization, "--image", image, flag) == 0
    assert capsys.readouterr().out == expected + "\n"


@pytest.mark.parametrize(
    ("name", "registry"),
    [
        ("nginx", "docker.io"),
        ("stockgitops/stock-backend", "docker.io"),
        ("docker.io/stockgitops/stock-backend", "docker.io"),
        ("ghcr.io/stock-gitops/stock-backend", "ghcr.io"),
        ("localhost/app", "localhost"),
        ("localhost:5000/app", "localhost:5000"),
    ],
)
def test_registry_follows_docker_name_rules(tag_tool: ModuleType, name: str, registry: str) -> None:
    assert tag_tool.registry_of(name) == registry


def test_the_repository_kustomization_sets_both_images(tag_tool: ModuleType, repo: Path, tmp_path) -> None:
    copy = tmp_path / "kustomization.yaml"
    original = (repo / "apps" / "stock-app" / "kustomization.yaml").read_bytes()
    copy.write_bytes(original)
    for image in ("stock-backend", "stock-frontend"):
        assert tag_tool.main(["--file", str(copy), "--image", image, "--tag", "sha-0123456789ab"]) == 0
    changed = [
        (old, new)
        for old, new in zip(original.decode().splitlines(), copy.read_text().splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 2
    for old, new in changed:
        assert old.split(":")[0] == new.split(":")[0] == "    newTag"
        assert new.endswith(": sha-0123456789ab")


def test_command_line(repo: Path, kustomization: Path) -> None:
    """The script runs as a program: --help, an edit, and a refusal with exit code 2 and no traceback."""
    help_text = subprocess.run(
        [sys.executable, TAG_TOOL, "--help"], capture_output=True, text=True, check=True
    )
    assert "--print-name" in help_text.stdout
    edit = [sys.executable, TAG_TOOL, "--file", kustomization, "--image", "sidecar", "--tag", "1.37"]
    assert subprocess.run(edit, capture_output=True, check=False).returncode == 0
    refused = subprocess.run([*edit[:-1], "latest"], capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert "refusing tag 'latest'" in refused.stderr
