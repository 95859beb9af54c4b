"""Set the tag of one image in the kustomization that owns the images, changing nothing else.

The release workflow calls this after it has pushed an image; people call it by hand to pin a tag
(`make set-image IMAGE=stock-backend TAG=sha-0123456789ab`). Only the characters of the `newTag` value
are replaced: comments, key order, quoting and line endings stay byte for byte as they were.

    tools/set_image_tag.py --image stock-backend --tag sha-0123456789ab
    tools/set_image_tag.py --image stock-backend --print-name      # ghcr.io/stock-gitops/stock-backend
    tools/set_image_tag.py --image stock-backend --print-registry  # ghcr.io

Exit codes: 0 done (or nothing to do), 2 refused (unknown image, malformed tag, a kustomization this
tool cannot edit safely).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
KUSTOMIZATION = REPO / "apps" / "stock-app" / "kustomization.yaml"

# Docker's tag grammar (distribution/reference): a word character, then up to 127 of [\w.-].
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Tags that name "whatever was pushed last" defeat GitOps: the commit would no longer say what runs.
MUTABLE_TAGS = {"latest"}


class RefusedError(Exception):
    """Input this tool will not act on; the message names the problem."""


@dataclass(frozen=True)
class ImageEntry:
    name: str
    new_name: str
    tag_node: yaml.ScalarNode


def check_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise RefusedError(
            f"malformed tag {tag!r}: a Docker tag is 1-128 characters of letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'"
        )
    if tag.lower() in MUTABLE_TAGS:
        raise RefusedError(
            f"refusing tag {tag!r}: it is mutable, so the commit would not say which image runs"
        )
    return tag


def _mapping_get(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def find_image(text: str, image: str, path: Path) -> ImageEntry:
    """Locate `image` in the `images:` list of the kustomization text, keeping the node positions."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise RefusedError(f"{path} is not valid YAML: {error}") from None
    images = _mapping_get(root, "images") if isinstance(root, yaml.MappingNode) else None
    if not isinstance(images, yaml.SequenceNode):
        raise RefusedError(f"{path} has no `images:` list")
    entries = {}
    for item in images.value:
        name = _mapping_get(item, "name") if isinstance(item, yaml.MappingNode) else None
        if not isinstance(name, yaml.ScalarNode):
            raise RefusedError(f"{path}: an `images:` entry has no name (line {item.start_mark.line + 1})")
        if name.value in entries:
            raise RefusedError(f"{path}: image {name.value!r} is listed twice")
        entries[name.value] = item
    if image not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise RefusedError(f"unknown image {image!r}; {path} sets: {known}")
    entry = entries[image]
    if _mapping_get(entry, "digest") is not None:
        raise RefusedError(
            f"{path}: {image!r} is pinned by `digest`, which overrides newTag; remove it first"
        )
    tag_node = _mapping_get(entry, "newTag")
    if not isinstance(tag_node, yaml.ScalarNode) or tag_node.style not in (None, "'", '"'):
        raise RefusedError(f"{path}: {image!r} has no plain or quoted `newTag:` value to replace")
    new_name = _mapping_get(entry, "newName")
    return ImageEntry(image, new_name.value if isinstance(new_name, yaml.ScalarNode) else image, tag_node)


def render_scalar(tag: str, style: str | None) -> str:
    """The tag as YAML text in the style the old value used, quoted if plain would not read as a string."""
    if style is None and yaml.safe_load(tag) == tag:
        return tag
    quote = style or '"'
    return f"{quote}{tag}{quote}"


def set_tag(text: str, image: str, tag: str, path: Path) -> tuple[str, str]:
    """Return (new text, old tag). The new text differs from `text` only inside the newTag value."""
    entry = find_image(text, image, path)
    node = entry.tag_node
    start, end = node.start_mark.index, node.end_mark.index
    updated = text[:start] + render_scalar(tag, node.style) + text[end:]
    # The edit is positional; prove it did exactly what was meant before anything is written.
    before, after = yaml.safe_load(text), yaml.safe_load(updated)
    for item in before["images"]:
        if item["name"] == image:
            item["newTag"] = tag
    if before != after:
        raise RefusedError(f"{path}: editing {image!r} would change more than its newTag; edit it by hand")
    return updated, node.value


def registry_of(name: str) -> str:
    """The registry host of an image name, as Docker resolves it (no host part means Docker Hub)."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--image", required=True, help="image name as the manifests use it, e.g. stock-backend"
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--tag", help="new immutable tag, e.g. sha-0123456789ab (never `latest`)")
    action.add_argument("--print-name", action="store_true", help="print the image's registry/name (newName)")
    action.add_argument("--print-registry", action="store_true", help="print the registry host of newName")
    action.add_argument("--print-tag", action="store_true", help="print the image's current newTag")
    parser.add_argument(
        "--file",
        type=Path,
        default=KUSTOMIZATION,
        help=f"kustomization to edit (default: {KUSTOMIZATION.relative_to(REPO)})",
    )
    return parser.parse_args(argv)


def shown(path: Path) -> Path:
    """A path as the user would type it: relative to the working directory when it is below it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path: Path = shown(args.file)
    try:
        if args.tag is not None:
            check_tag(args.tag)
        try:
            # Bytes in, bytes out: newline="" keeps CRLF files CRLF.
            with path.open(encoding="utf-8", newline="") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise RefusedError(f"cannot read {path}: {error}") from None
        if args.tag is None:
            entry = find_image(text, args.image, path)
            if args.print_name:
                print(entry.new_name)
            elif args.print_registry:
                print(registry_of(entry.new_name))
            else:
                print(entry.tag_node.value)
            return 0
        updated, old = set_tag(text, args.image, args.tag, path)
    except RefusedError as error:
        print(f"set_image_tag: error: {error}", file=sys.stderr)
        return 2
    if updated == text:
        print(f"{args.image} is already at {args.tag} in {path}; nothing to change")
        return 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(updated)
    print(f"{args.image}: {old} -> {args.tag} in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
