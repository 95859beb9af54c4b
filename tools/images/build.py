"""Build the images from images/*/Dockerfile, unchanged, with podman (`make images`).

    python tools/images/build.py [NAME ...]    build images/NAME (default: all) as localhost/stock-NAME:dev

The base (python:3.13.x-slim, pinned by digest) cannot be pulled here, so the local stand-in from
base_image.py replaces the Dockerfile's one FROM through `podman build --from` (the digest names a
registry's manifest that no local image can have). Nothing is pulled (--pull=never).

pip inside the build reaches the package index the way pip on this machine is configured: the index, proxy
and certificate settings of the host's pip (its config files and PIP_* variables) are written to a pip.conf
in .out/images/pip/, next to a copy of the CA bundle it names, and that folder is bind-mounted for the RUN
steps only (podman build --volume) at /etc/xdg/pip, one of pip's global configuration folders. Nothing of
it ends up in an image layer, and it is not part of the layer cache key: a second build reuses every layer.

Each build's wall time and the image's size go to .out/images/build.json.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import base_image
from podman import OUT, REPO, ImagesError, podman, run

PIP_DIR = OUT / "pip"
PIP_MOUNT = "/etc/xdg/pip"
# The settings that say how to reach an index; anything else (find-links to host folders, caches) stays home.
PIP_SETTINGS = (
    "index-url",
    "extra-index-url",
    "trusted-host",
    "cert",
    "client-cert",
    "proxy",
    "timeout",
    "retries",
)
PIP_ENV_ALIASES = {"default-timeout": "timeout"}


def image_names(requested: list[str]) -> list[str]:
    available = sorted(path.parent.name for path in REPO.glob("images/*/Dockerfile"))
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise ImagesError(
            f"no images/<name>/Dockerfile for {', '.join(unknown)}; there are: {', '.join(available)}"
        )
    return requested or available


def tag_of(name: str) -> str:
    return f"localhost/stock-{name}:dev"


def host_pip_settings() -> dict[str, str]:
    """The host pip's effective index settings: its config files, then PIP_* variables, as pip ranks them."""
    result = run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture=True,
        check=False,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        section, _, option = key.rpartition(".")
        option = PIP_ENV_ALIASES.get(option, option)
        # global.* and install.* from files; ":env:.*" lines are the variables, read below with precedence.
        if section in ("global", "install") and option in PIP_SETTINGS:
            settings[option] = value.strip().strip("'\"")
    for option in PIP_SETTINGS + tuple(PIP_ENV_ALIASES):
        value = os.environ.get("PIP_" + option.upper().replace("-", "_"))
        if value:
            settings[PIP_ENV_ALIASES.get(option, option)] = value
    return settings


def write_pip_config() -> Path:
    """pip.conf (+ the CA files it names) for the build's RUN steps; returns the folder to mount."""
    shutil.rmtree(PIP_DIR, ignore_errors=True)
    PIP_DIR.mkdir(parents=True)
    settings = host_pip_settings()
    for option in ("cert", "client-cert"):
        if option in settings:
            source = Path(settings[option])
            if not source.is_file():
                raise ImagesError(f"pip's {option} setting names {source}, which is not a readable file")
            shutil.copyfile(source, PIP_DIR / f"{option}.pem")
            settings[option] = f"{PIP_MOUNT}/{option}.pem"
    config = configparser.ConfigParser()
    config["global"] = settings
    with (PIP_DIR / "pip.conf").open("w") as handle:
        handle.write(
            "# Written by tools/images/build.py from this machine's pip settings; mounted in builds only.\n"
        )
        config.write(handle)
    return PIP_DIR


def image_size(tag: str) -> int:
    return int(podman(["image", "inspect", "--format", "{{.Size}}", tag]).stdout.strip())


def build(name: str, base: str, pip_dir: Path) -> dict:
    context = REPO / "images" / name
    tag = tag_of(name)
    command = [
        "build",
        "--pull=never",
        "--layers",
        # Docker's image format, as buildx produces: OCI's has no HEALTHCHECK, and podman would drop it.
        "--format", "docker",
        "--from", base,
        "--volume", f"{pip_dir}:{PIP_MOUNT}:ro",
        "--tag", tag,
        "--file", str(context / "Dockerfile"),
        str(context),
    ]  # fmt: skip
    print(f"images: podman {' '.join(command)}", flush=True)
    started = time.monotonic()
    podman(command, capture=False)
    seconds = round(time.monotonic() - started, 1)
    size = image_size(tag)
    print(f"images: {tag} built in {seconds} s, {size / 1e6:.0f} MB", flush=True)
    return {"image": tag, "seconds": seconds, "bytes": size}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="image folders under images/ (default: all)")
    args = parser.parse_args()
    try:
        names = image_names(args.names)
        started = time.monotonic()
        base = base_image.ensure()
        base_seconds = round(time.monotonic() - started, 1)
        pip_dir = write_pip_config()
        results = {name: build(name, base, pip_dir) for name in names}
    except ImagesError as error:
        print(f"images: error: {error}", file=sys.stderr)
        return 1
    except subprocess.SubprocessError as error:
        print(f"images: error: {error}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "build.json").write_text(
        json.dumps({"base": {"image": base, "seconds": base_seconds}, **results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
