"""Build the local stand-in for the images' base (python:3.13.x-slim), which no registry here can serve.

    python tools/images/base_image.py [--rebuild]     ensure the stand-in exists in podman; print its name

The stand-in is Debian 13 (trixie) from `debootstrap --variant=minbase` with Debian's python3.13 and pip,
made to behave like python:3.13-slim where the Dockerfiles rely on it: `python` and `pip` on PATH, pip
allowed to install into the system (no EXTERNALLY-MANAGED marker), `groupadd`/`useradd` present,
LANG=C.UTF-8. It is tagged with the name and tag of the Dockerfiles' FROM line (without the digest,
which only the real image can have); tools/images/build.py substitutes it with `podman build --from`.

debootstrap takes minutes, so its result is kept as a tarball outside the clone, in
$CACHE/base-image/<key>.tar, where key hashes everything that shapes it (the suite, the
package list, the mirror, the architecture, and RECIPE). $CACHE is $STOCK_GITOPS_CACHE, else
$XDG_CACHE_HOME/stock-gitops, else ~/.cache/stock-gitops. A fresh clone on the same machine imports the
cached tarball (seconds) instead of bootstrapping again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from podman import REPO, ImagesError, cache_root, locked, podman, run

# The Debian release python:3.13-slim is built on, and what the Dockerfiles need from the base.
SUITE = "trixie"
# python3-pip-whl, not python3-pip: Debian's pip runs on Debian-packaged packaging/wheel that it cannot
# uninstall, so a lock pinning another `packaging` fails. The wheel has its dependencies vendored, like
# python:3.13-slim's pip, and installs into /usr/local as there; the package is purged afterwards.
PACKAGES = ("ca-certificates", "netbase", "tzdata", "passwd", "python-is-python3", "python3-pip-whl")
APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))
FROM_LINE = re.compile(r"^FROM\s+(?P<ref>\S+)", re.MULTILINE | re.IGNORECASE)
# python:3.13.16-slim@sha256:... -> the repository, the tag and its Python minor version
PYTHON_REF = re.compile(
    r"^(?P<repo>(?:[\w.-]+/)*python):(?P<tag>(?P<minor>3\.\d+)\.\d+-slim)(?:@sha256:[0-9a-f]{64})?$"
)
KEY_LABEL = "org.stock-gitops.base-image.key"
# Bumped when the way the tree is made changes (slim_down, the image's settings): no stale cache is used.
RECIPE = "3"
# What python:3.13-slim sets besides PYTHON_VERSION/GPG_KEY/PYTHON_SHA256 (which describe its own build).
ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def base_reference(repo: Path = REPO) -> tuple[str, str]:
    """The one FROM every image uses, as (full reference, stand-in name with the tag and no digest)."""
    refs = {}
    for dockerfile in sorted(repo.glob("images/*/Dockerfile")):
        found = FROM_LINE.findall(dockerfile.read_text())
        if len(found) != 1:
            raise ImagesError(f"{dockerfile}: expected exactly one FROM line, found {len(found)}")
        refs[dockerfile.relative_to(repo)] = found[0]
    if not refs:
        raise ImagesError(f"no images/*/Dockerfile under {repo}")
    if len(set(refs.values())) != 1:
        listing = ", ".join(f"{path}: {ref}" for path, ref in refs.items())
        raise ImagesError(f"the Dockerfiles use different bases, one stand-in cannot serve them: {listing}")
    (ref,) = set(refs.values())
    match = PYTHON_REF.match(ref)
    if not match:
        raise ImagesError(
            f"the base {ref!r} is not a python:3.N.P-slim image; the stand-in only imitates that"
        )
    repository = match["repo"] if "/" in match["repo"] else f"docker.io/library/{match['repo']}"
    return ref, f"{repository}:{match['tag']}"


def python_minor(name: str) -> str:
    return PYTHON_REF.match(name.rpartition("/")[2])["minor"]


def apt_mirror() -> str:
    """The Debian mirror apt on this machine uses, so debootstrap goes where apt already goes."""
    files = []
    for source in APT_SOURCES:
        if source.is_dir():
            files += sorted(source.glob("*.sources")) + sorted(source.glob("*.list"))
        elif source.is_file():
            files.append(source)
    for file in files:
        text = file.read_text()
        # deb822 (.sources) and one-line (.list) formats; the first plain Debian archive wins.
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.MULTILINE) + re.findall(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.MULTILINE
        ):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    raise ImagesError(f"no Debian archive found in apt's sources ({', '.join(map(str, APT_SOURCES))})")


def cache_key(mirror: str, minor: str) -> str:
    inputs = {
        "recipe": RECIPE,
        "suite": SUITE,
        "python": minor,
        "packages": PACKAGES,
        "mirror": mirror,
        "arch": platform.machine(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def debootstrap(root: Path, mirror: str, minor: str) -> None:
    if shutil.which("debootstrap") is None:
        raise ImagesError(
            "debootstrap is not installed (Debian: apt-get install debootstrap; .ci/run does it)"
        )
    packages = ",".join((f"python{minor}", *PACKAGES))
    print(f"base-image: debootstrap {SUITE} from {mirror} (a few minutes, once per machine)", flush=True)
    run(["debootstrap", "--variant=minbase", f"--include={packages}", SUITE, str(root), mirror])


def slim_down(root: Path, minor: str) -> None:
    """Make the tree look like python:3.13-slim where it matters, and drop what is host-specific."""
    # python:3.13-slim's pip installs into the system; Debian's refuses without this removal (PEP 668).
    (root / f"usr/lib/python{minor}/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    (wheel,) = (root / "usr/share/python-wheels").glob("pip-*.whl")
    inside = f"/usr/share/python-wheels/{wheel.name}"
    # pip runs from its own wheel to install itself: /usr/local/bin/pip, as in python:3.13-slim.
    clean_env = {"PATH": ENVIRONMENT["PATH"], "LANG": "C.UTF-8", "HOME": "/root"}
    pip_install = [
        "install",
        "--no-index",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--root-user-action=ignore",
    ]
    run(["chroot", str(root), "python3", f"{inside}/pip", *pip_install, inside], env=clean_env)
    run(["chroot", str(root), "dpkg", "--purge", "python3-pip-whl"], env=clean_env)
    # python:3.13-slim's interpreter is /usr/local/bin/python3, next to the scripts pip installs; code that
    # finds a console script beside sys.executable (the backend's tests find gunicorn so) relies on it.
    # Symlinks keep sys.prefix at /usr, where Debian's standard library lives.
    local_bin = root / "usr/local/bin"
    for link, target in (
        (f"python{minor}", f"/usr/bin/python{minor}"),
        ("python3", f"python{minor}"),
        ("python", "python3"),
    ):
        (local_bin / link).symlink_to(target)
    # debootstrap copies the host's resolver and name; a container gets its own from the runtime.
    for path in ("etc/resolv.conf", "etc/hostname"):
        (root / path).unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")
    # What debian:trixie-slim leaves out (its dpkg path-excludes): docs, man pages, translations.
    for folder in ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/doc"):
        for entry in (root / folder).glob("*"):
            if folder == "usr/share/doc" and entry.is_dir():
                # Licences stay, as in the slim images.
                for item in entry.iterdir():
                    if item.name != "copyright":
                        shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
                continue
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for folder in ("var/cache/apt", "var/lib/apt/lists", "var/log"):
        for entry in (root / folder).rglob("*"):
            if entry.is_file() or entry.is_symlink():
                entry.unlink()


def installed_python_version(root: Path, minor: str) -> str:
    status = (root / "var/lib/dpkg/status").read_text()
    match = re.search(rf"^Package: python{minor}-minimal\n(?:.+\n)*?Version: (\S+)", status, re.MULTILINE)
    return match[1] if match else "unknown"


def build_tarball(tarball: Path, mirror: str, minor: str) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".debootstrap-", dir=tarball.parent))
    try:
        root = work / "root"
        debootstrap(root, mirror, minor)
        slim_down(root, minor)
        (work / "debian-version").write_text(installed_python_version(root, minor))
        partial = work / "rootfs.tar"
        run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."])
        shutil.move(work / "debian-version", tarball.with_suffix(".python-version"))
        # Renamed into place only when complete, so an interrupted run leaves no half tarball behind.
        partial.rename(tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def image_key(name: str) -> str | None:
    result = podman(
        ["image", "inspect", "--format", f'{{{{index .Labels "{KEY_LABEL}"}}}}', name], check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure(rebuild: bool = False) -> str:
    reference, name = base_reference()
    minor = python_minor(name)
    mirror = apt_mirror()
    key = cache_key(mirror, minor)
    tarball = cache_root() / "base-image" / f"{key}.tar"
    with locked(tarball.with_suffix(".lock")):
        if not rebuild and image_key(name) == key:
            return name
        if rebuild or not tarball.exists():
            build_tarball(tarball, mirror, minor)
        debian_python = tarball.with_suffix(".python-version").read_text().strip()
        changes = [f"ENV {variable}={value}" for variable, value in ENVIRONMENT.items()]
        changes += [
            f"ENV PYTHON_VERSION={debian_python}",
            f"LABEL {KEY_LABEL}={key}",
            f'LABEL org.opencontainers.image.description="Local stand-in for {reference}: Debian {SUITE} '
            f'(debootstrap) with Debian python{minor} {debian_python}"',
            'CMD ["python3"]',
        ]
        print(f"base-image: importing {tarball} as {name}", flush=True)
        podman(["import", *(arg for change in changes for arg in ("--change", change)), str(tarball), name])
    return name


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="debootstrap again even if a cached tarball exists"
    )
    args = parser.parse_args()
    try:
        print(ensure(rebuild=args.rebuild))
    except ImagesError as error:
        print(f"base-image: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
