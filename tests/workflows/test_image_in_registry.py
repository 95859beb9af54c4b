"""image_in_registry.py against a registry served on 127.0.0.1: only a 404 means "not there".

The release builds and pushes a tag only when the registry certainly lacks it, and deploys a tag only
when anyone can pull it. The fake registry speaks the parts of the distribution API the script uses:
a 401 challenge on the manifest, a token service, and the manifest's HEAD.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import image_in_registry
import pytest
from workflow_helpers import REPO_ROOT

SCRIPT = REPO_ROOT / ".github" / "scripts" / "image_in_registry.py"
IMAGE = "ghcr.io/owner/stock-backend"
TOKEN = "t0ken"


@dataclass
class Behaviour:
    """What the fake registry answers; each test sets what it needs."""

    manifests: dict[str, int] = field(default_factory=dict)  # "<repository>:<tag>" -> status, else 404
    token_status: int = 200
    basic: str | None = None  # the token service demands these credentials when set
    seen: list[str] = field(default_factory=list)


@dataclass
class Registry:
    url: str
    behaviour: Behaviour


@pytest.fixture
def registry() -> Iterator[Registry]:
    behaviour = Behaviour()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:  # the token service
            behaviour.seen.append(f"GET {self.path} auth={self.headers.get('Authorization')}")
            if not self.path.startswith("/token?"):
                self._send(404)
            elif behaviour.basic and self.headers.get("Authorization") != behaviour.basic:
                self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
            elif behaviour.token_status != 200:
                self._send(behaviour.token_status, {"errors": [{"code": "DENIED", "message": "denied"}]})
            else:
                self._send(200, {"token": TOKEN})

        def do_HEAD(self) -> None:  # the manifest
            behaviour.seen.append(f"HEAD {self.path}")
            _, _, rest = self.path.partition("/v2/")
            repository, _, tag = rest.rpartition("/manifests/")
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                host, port = self.server.server_address[:2]
                challenge = f'Bearer realm="http://{host}:{port}/token",service="fake",scope="x"'
                self._send(401, headers={"WWW-Authenticate": challenge})
                return
            assert "application/vnd.oci.image.index.v1+json" in self.headers.get("Accept", "")
            self._send(behaviour.manifests.get(f"{repository}:{tag}", 404))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Registry(f"http://127.0.0.1:{server.server_address[1]}", behaviour)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def check(
    registry: Registry | str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    url = registry if isinstance(registry, str) else registry.url
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--registry-url", url, *args],
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def module() -> ModuleType:
    return image_in_registry


def test_a_tag_that_is_there(registry: Registry) -> None:
    registry.behaviour.manifests["owner/stock-backend:sha-0123456789ab"] = 200
    result = check(registry, "--anonymous", f"{IMAGE}:sha-0123456789ab")
    assert result.returncode == 0, result.stderr
    assert "anyone can pull it" in result.stdout
    assert any(line.startswith("GET /token?") and "auth=None" in line for line in registry.behaviour.seen)


def test_only_a_404_means_absent(registry: Registry) -> None:
    result = check(registry, f"{IMAGE}:sha-0123456789ab")
    assert result.returncode == 3, result.stderr
    assert "is not in the registry" in result.stdout


@pytest.mark.parametrize("status", [403, 429, 500, 502])
def test_any_other_answer_is_undecided_and_builds_nothing(registry: Registry, status: int) -> None:
    registry.behaviour.manifests["owner/stock-backend:sha-0123456789ab"] = status
    result = check(registry, f"{IMAGE}:sha-0123456789ab")
    assert result.returncode == 1
    assert f"cannot tell whether {IMAGE}:sha-0123456789ab exists" in result.stderr
    assert f"HTTP {status}" in result.stderr


def test_refused_credentials_are_undecided_not_absent(registry: Registry) -> None:
    registry.behaviour.basic = "Basic " + base64.b64encode(b"bot:secret").decode()
    registry.behaviour.manifests["owner/stock-backend:sha-0123456789ab"] = 200
    wrong = check(
        registry, f"{IMAGE}:sha-0123456789ab", env={"REGISTRY_USERNAME": "bot", "REGISTRY_PASSWORD": "nope"}
    )
    assert wrong.returncode == 1
    assert "token service refused with the given credentials: HTTP 401" in wrong.stderr
    right = check(
        registry, f"{IMAGE}:sha-0123456789ab", env={"REGISTRY_USERNAME": "bot", "REGISTRY_PASSWORD": "secret"}
    )
    assert right.returncode == 0, right.stderr


def test_a_ghcr_package_the_token_may_not_read_says_how_to_connect_it(registry: Registry) -> None:
    """A package pushed from elsewhere is not connected to this repository: its GITHUB_TOKEN gets 403."""
    registry.behaviour.token_status = 403
    result = check(
        registry, f"{IMAGE}:sha-0123456789ab", env={"REGISTRY_USERNAME": "bot", "REGISTRY_PASSWORD": "t"}
    )
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr
    assert "Manage Actions access" in result.stderr
    other = check(registry, "docker.io/owner/stock-backend:sha-0123456789ab")
    assert other.returncode == 1
    assert "Manage Actions access" not in other.stderr


def test_anonymous_never_sends_the_credentials(registry: Registry) -> None:
    registry.behaviour.basic = "Basic " + base64.b64encode(b"bot:secret").decode()
    result = check(
        registry,
        "--anonymous",
        f"{IMAGE}:sha-0123456789ab",
        env={"REGISTRY_USERNAME": "bot", "REGISTRY_PASSWORD": "secret"},
    )
    assert result.returncode == 1
    assert all("Basic" not in line for line in registry.behaviour.seen)


def test_a_private_package_says_how_to_make_it_public(registry: Registry) -> None:
    """GHCR refuses an anonymous token for a private package: the deploy must stop and say what to do."""
    registry.behaviour.token_status = 401
    result = check(registry, "--anonymous", f"{IMAGE}:sha-0123456789ab")
    assert result.returncode == 1
    assert "A new GHCR package starts private" in result.stderr
    assert "https://github.com/users/owner/packages/container/stock-backend/settings" in result.stderr
    assert "Change visibility" in result.stderr


def test_an_unreachable_registry_is_undecided() -> None:
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = check(f"http://127.0.0.1:{port}", f"{IMAGE}:sha-0123456789ab")
    assert result.returncode == 1
    assert "cannot reach" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [("ghcr.io/owner/stock-backend", "is not NAME:TAG"), ("ghcr.io/Owner/stock-backend:1", "lower-case")],
)
def test_bad_references_are_refused(text: str, message: str) -> None:
    result = check("http://127.0.0.1:9", text)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "registry", "repository", "api"),
    [
        ("ghcr.io/owner/stock-backend:1", "ghcr.io", "owner/stock-backend", "https://ghcr.io"),
        ("owner/stock-backend:1", "docker.io", "owner/stock-backend", "https://registry-1.docker.io"),
        ("docker.io/nginx:1", "docker.io", "library/nginx", "https://registry-1.docker.io"),
        ("localhost:5000/a/b:1", "localhost:5000", "a/b", "https://localhost:5000"),
    ],
)
def test_references_resolve_as_docker_resolves_them(
    module: ModuleType, text: str, registry: str, repository: str, api: str
) -> None:
    ref = module.parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, "1")
    assert module.api_url(ref.registry) == api


def test_it_runs_without_the_venv() -> None:
    """The build job runs it with the runner's python3 before any setup: standard library only."""
    imports = {
        line.split()[1].split(".")[0]
        for line in SCRIPT.read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= set(sys.stdlib_module_names) | {"__future__"}, imports
    assert Path(SCRIPT).stat().st_mode & 0o111
