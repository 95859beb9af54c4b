"""The image's inputs: a complete lock the tests themselves run on, and a Dockerfile that pins its base."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from stockapi_testing import BACKEND


def lock() -> list[Requirement]:
    lines = (BACKEND / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_every_locked_package_is_pinned_exactly_and_installed_here_at_that_version():
    pins = lock()
    assert pins
    for requirement in pins:
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", requirement
        if requirement.marker is None or requirement.marker.evaluate():
            assert metadata.version(requirement.name) == specifier.version, requirement


def test_every_direct_dependency_is_in_the_lock():
    direct = {
        canonicalize_name(Requirement(line).name)
        for line in (BACKEND / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert direct <= {canonicalize_name(requirement.name) for requirement in lock()}


def test_dockerfile_pins_its_base_and_runs_gunicorn_as_pid_1_without_root():
    dockerfile = (BACKEND / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert re.fullmatch(r"python:3\.13\.\d+-slim@sha256:[0-9a-f]{64}", base)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    assert re.search(r'^CMD \["gunicorn", "--config", "gunicorn.conf.py"\]$', dockerfile, re.M)
    assert "--no-deps" in dockerfile
    assert "pip check" in dockerfile
