#!/usr/bin/env python3
"""Is NAME:TAG in its registry? Answers only what the registry says for certain.

    .github/scripts/image_in_registry.py ghcr.io/owner/stock-backend:sha-0123456789ab
    .github/scripts/image_in_registry.py --anonymous ghcr.io/owner/stock-backend:sha-0123456789ab

Asks the registry's HTTP API (the OCI distribution spec: HEAD /v2/<name>/manifests/<tag>, with the
token dance of Docker's auth spec) and exits:

  0  the tag is there (and, with --anonymous, anyone can pull it: what the cluster does)
  3  the registry answered 404: the tag is certainly not there (only then may a release build it)
  1  anything else: refused (401/403), rate limited (429), a server error, no network. Nobody can tell
     whether the tag exists, so nothing may be pushed over it; the message says what happened.
  2  bad arguments

Credentials for the non-anonymous check come from REGISTRY_USERNAME and REGISTRY_PASSWORD (in the
release workflow: the actor and GITHUB_TOKEN, or the registry secrets). Only the standard library, so it
runs on any runner's python3 before any setup step.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

PRESENT, ERROR, USAGE, ABSENT = 0, 1, 2, 3
TIMEOUT = 30  # seconds per request: a hung registry must not hold the release for six hours
# Every manifest type a tag can point at; without them some registries answer 404 for an index.
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
# Docker Hub's names for itself, and the host its API actually answers on.
DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io"}
DOCKER_HUB_API = "registry-1.docker.io"


class UndecidedError(Exception):
    """The registry did not say yes or no; the message says what it said instead."""


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str

    @property
    def shown(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def parse_reference(text: str) -> Reference:
    """registry/name:tag as Docker reads it (no registry part means Docker Hub, one path part library/)."""
    name, sep, tag = text.rpartition(":")
    if not sep or "/" in tag or not name:
        raise ValueError(f"{text!r} is not NAME:TAG")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name
    if registry in DOCKER_HUB:
        registry = "docker.io"
        if "/" not in repository:
            repository = f"library/{repository}"
    if repository != repository.lower():
        raise ValueError(f"{text!r}: a registry takes only lower-case repository names")
    return Reference(registry, repository, tag)


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


def _describe(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
        codes = ", ".join(f"{e.get('code')}: {e.get('message')}" for e in body.get("errors", []))
    except (ValueError, AttributeError):
        codes = ""
    return f"HTTP {error.code} {error.reason}" + (f" ({codes})" if codes else "")


class Registry:
    def __init__(self, base_url: str, username: str | None, password: str | None) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(f"--registry-url must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.basic = (
            "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            if username and password
            else None
        )

    def _open(self, request: urllib.request.Request) -> urllib.response.addinfourl:
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 (http(s) only, checked)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UndecidedError(f"cannot reach {request.full_url}: {reason}") from None

    def _token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise UndecidedError("the registry asked for a token but named no realm to get it from")
        query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
        if not realm.startswith(("https://", "http://")):
            raise UndecidedError(f"the registry named a token service that is not HTTP: {realm!r}")
        request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}")  # noqa: S310 (checked)
        if self.basic:
            request.add_header("Authorization", self.basic)
        try:
            with self._open(request) as response:
                body = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            who = "with the given credentials" if self.basic else "anonymously"
            raise UndecidedError(f"the token service refused {who}: {_describe(error)}") from None
        except ValueError:
            raise UndecidedError("the token service answered something that is not JSON") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise UndecidedError("the token service answered without a token")
        return token

    def has_manifest(self, ref: Reference) -> bool:
        url = f"{self.base_url}/v2/{ref.repository}/manifests/{urllib.parse.quote(ref.tag)}"
        authorization = None
        for _ in range(2):  # the second round carries the credentials the first one asked for
            request = urllib.request.Request(url, method="HEAD", headers={"Accept": ACCEPT})  # noqa: S310
            if authorization:
                request.add_header("Authorization", authorization)
            try:
                with self._open(request):
                    return True
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return False
                header = error.headers.get("WWW-Authenticate", "")
                if error.code != 401 or authorization or not header:
                    raise UndecidedError(f"{ref.shown}: {_describe(error)}") from None
                scheme, params = _challenge(header)
                if scheme == "bearer":
                    authorization = "Bearer " + self._token(params, f"repository:{ref.repository}:pull")
                elif scheme == "basic" and self.basic:
                    authorization = self.basic
                else:
                    raise UndecidedError(
                        f"{ref.shown}: {_describe(error)}, and no credentials to answer it"
                    ) from None
        raise UndecidedError(f"{ref.shown}: the registry kept asking for credentials")


def api_url(registry: str) -> str:
    return "https://" + (DOCKER_HUB_API if registry == "docker.io" else registry)


def private_advice(ref: Reference) -> str:
    if ref.registry == "ghcr.io":
        owner, _, package = ref.repository.partition("/")
        return (
            "A new GHCR package starts private, and the cluster pulls without credentials. Make it public: "
            f"https://github.com/users/{owner}/packages/container/{urllib.parse.quote(package, safe='')}"
            f"/settings (an organisation's: https://github.com/orgs/{owner}/packages/container/"
            f"{urllib.parse.quote(package, safe='')}/settings), Danger Zone, Change visibility, Public; "
            "then re-run the failed jobs of this release."
        )
    return (
        f"Make the repository {ref.registry}/{ref.repository} public in the registry's settings (the "
        "cluster pulls without credentials), then re-run the failed jobs of this release."
    )


def access_advice(ref: Reference) -> str:
    owner, _, package = ref.repository.partition("/")
    return (
        "GITHUB_TOKEN reads and writes only packages connected to this repository. If a package "
        f"{package} already exists under {owner} (pushed from elsewhere), open its settings, Manage Actions "
        "access, and add this repository with the Write role; or set REGISTRY_USERNAME/REGISTRY_PASSWORD."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Exit codes: 0 there, 3 not there, 1 cannot tell."
    )
    parser.add_argument("image", help="registry/name:tag, e.g. ghcr.io/owner/stock-backend:sha-0123456789ab")
    parser.add_argument(
        "--anonymous", action="store_true", help="ask without credentials, as the cluster pulls"
    )
    parser.add_argument(
        "--registry-url", help="the registry's API base URL (default: https://<registry host>); for tests"
    )
    args = parser.parse_args(argv)
    try:
        ref = parse_reference(args.image)
    except ValueError as error:
        print(f"image_in_registry: error: {error}", file=sys.stderr)
        return USAGE
    username = None if args.anonymous else os.environ.get("REGISTRY_USERNAME")
    password = None if args.anonymous else os.environ.get("REGISTRY_PASSWORD")
    try:
        registry = Registry(args.registry_url or api_url(ref.registry), username, password)
    except ValueError as error:
        print(f"image_in_registry: error: {error}", file=sys.stderr)
        return USAGE
    try:
        present = registry.has_manifest(ref)
    except UndecidedError as error:
        print(f"image_in_registry: cannot tell whether {ref.shown} exists: {error}", file=sys.stderr)
        if args.anonymous:
            print(private_advice(ref), file=sys.stderr)
        elif ref.registry == "ghcr.io" and re.search(r"HTTP 40[13]\b", str(error)):
            print(access_advice(ref), file=sys.stderr)
        return ERROR
    if present:
        print(f"{ref.shown} is in the registry" + (" and anyone can pull it" if args.anonymous else ""))
        return PRESENT
    if args.anonymous:
        print(f"image_in_registry: {ref.shown} is not pullable without credentials (404)", file=sys.stderr)
        print(private_advice(ref), file=sys.stderr)
        return ABSENT
    print(f"{ref.shown} is not in the registry")
    return ABSENT


if __name__ == "__main__":
    sys.exit(main())
