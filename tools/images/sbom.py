"""SBOMs of the locally built images, offline: the counterpart of the release's `sbom: true` (BuildKit).

    python tools/images/sbom.py [NAME ...]    writes .out/images/sbom/stock-NAME.spdx.json (default: all)

syft is built from source by tools/gotools.py (pinned in tools/go/syft/go.mod). The image is handed to it as
an OCI archive from `podman save`, so syft needs neither a daemon nor a registry, and it is told not to look
for updates: nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pod
from build import image_names
from podman import OUT, REPO, ImagesError, podman, run

SBOM_DIR = OUT / "sbom"


def syft() -> str:
    result = run([sys.executable, str(REPO / "tools" / "gotools.py"), "path", "syft"], capture=True)
    return result.stdout.strip().splitlines()[-1]


def sbom(name: str, syft_binary: str) -> Path:
    image = pod.local_tag(name)
    if podman(["image", "exists", image], check=False).returncode != 0:
        raise ImagesError(f"{image} is not built; run `make images` first")
    SBOM_DIR.mkdir(parents=True, exist_ok=True)
    target = SBOM_DIR / f"stock-{name}.spdx.json"
    with tempfile.TemporaryDirectory(dir=OUT) as work:
        archive = Path(work) / "image.tar"
        podman(["save", "--quiet", "--format", "oci-archive", "--output", str(archive), image])
        env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}
        run(
            [syft_binary, "scan", "--quiet", f"oci-archive:{archive}", "--output", f"spdx-json={target}"],
            env=env,
        )
    print(f"sbom: {image} -> {target}", flush=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="image folders under images/ (default: all)")
    args = parser.parse_args()
    try:
        binary = syft()
        for name in image_names(args.names):
            sbom(name, binary)
    except ImagesError as error:
        print(f"sbom: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
