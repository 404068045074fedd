"""`kiosk-content`: make keys, sample creatives and signed content packages; check them.

    kiosk-content keygen KEYFILE                       new Ed25519 key; prints the public key
    kiosk-content samples OUT_DIR [--seed N]           demo posters and a short MP4
    kiosk-content build DIR --key KEYFILE --id ID      probe + hash + sign -> DIR/manifest.json
    kiosk-content verify DIR --public-key TEXT         signature, sizes and hashes of a package
    kiosk-content probe FILE...                        what each file is, or why it is refused

Exit status: 0 when everything is fine, 1 when a check fails or a file is refused, 2 for usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from content.package import PackageError, build_package, verify_directory
from content.probe import CreativeError, probe
from content.signing import (
    SignatureError,
    generate_key,
    key_id,
    load_private_key,
    public_key_from_text,
    public_key_to_text,
    save_private_key,
)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _byte_progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                    transient=True, disable=not console.is_terminal)


def _keygen(args: argparse.Namespace) -> int:
    path = Path(args.keyfile)
    if path.exists() and not args.force:
        return _fail(f"{path} exists; pass --force to replace it (terminals trusting the old "
                     "key will refuse packages signed with the new one)")
    key = generate_key()
    save_private_key(key, path)
    public = key.public_key()
    print(f"private key: {path}")
    print(f"public key: {public_key_to_text(public)}")
    print(f"key id: {key_id(public)}")
    return 0


def _samples(args: argparse.Namespace) -> int:
    from content.samples import DEFAULT_BRANDS, generate_samples  # Pillow and OpenCV

    brands = args.brand or DEFAULT_BRANDS
    try:
        paths = generate_samples(args.out_dir, brands, seed=args.seed, video=not args.no_video)
    except (OSError, RuntimeError, ValueError) as exc:
        return _fail(str(exc))
    for path in paths:
        print(path)
    return 0


def _build(args: argparse.Namespace) -> int:
    try:
        key = load_private_key(Path(args.key))
    except (OSError, ValueError) as exc:  # SignatureError is a ValueError
        return _fail(f"cannot load the signing key {args.key}: {exc}")
    console = Console(stderr=True)
    try:
        with _byte_progress(console) as bar:
            task = bar.add_task("hashing", total=None)

            def progress(name: str, done: int, total: int) -> None:
                bar.update(task, description=name, completed=done, total=total)

            signed = build_package(args.dir, args.id, key, progress=progress)
    except (PackageError, OSError) as exc:
        return _fail(str(exc))
    manifest = signed.manifest
    size = sum(f.size for f in manifest.files)
    print(f"signed package {manifest.package_id}: {len(manifest.files)} files, {size} bytes, "
          f"key id {signed.key_id}")
    for entry in manifest.files:
        print(f"  {entry.name}  {entry.media_type} {entry.width}x{entry.height}  {entry.size} "
              f"bytes  {entry.sha256[:16]}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        keys = [public_key_from_text(text) for text in args.public_key]
    except SignatureError as exc:
        return _fail(str(exc))
    trusted = {key_id(k): k for k in keys}
    console = Console(stderr=True)
    try:
        with _byte_progress(console) as bar:
            task = bar.add_task("verifying", total=None)

            def progress(name: str, done: int, total: int) -> None:
                bar.update(task, description=name, completed=done, total=total)

            manifest = verify_directory(args.dir, trusted, progress=progress,
                                        allow_extra=args.allow_extra)
    except (PackageError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    size = sum(f.size for f in manifest.files)
    print(f"OK: package {manifest.package_id}: {len(manifest.files)} files, {size} bytes, "
          "signature and every sha256 verified")
    return 0


def _probe(args: argparse.Namespace) -> int:
    refused = 0
    for name in args.files:
        try:
            found = probe(Path(name))
        except CreativeError as exc:
            refused += 1
            print(f"{name}: REFUSED ({exc.reason}): {exc}", file=sys.stderr)
        except OSError as exc:
            refused += 1
            print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        else:
            print(f"{name}: {found.describe()}")
    return 1 if refused else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk-content", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="create an Ed25519 signing key (PEM, mode 0600)")
    p.add_argument("keyfile")
    p.add_argument("--force", action="store_true", help="replace an existing key file")
    p.set_defaults(func=_keygen)

    p = sub.add_parser("samples", help="write demo posters and a short MP4")
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--brand", action="append", metavar="NAME",
                   help="a brand name (repeat for several; default: the demo brands)")
    p.add_argument("--no-video", action="store_true")
    p.set_defaults(func=_samples)

    p = sub.add_parser("build", help="probe, hash and sign a package directory")
    p.add_argument("dir")
    p.add_argument("--key", required=True, metavar="KEYFILE", help="the private key (PEM)")
    p.add_argument("--id", required=True, metavar="PACKAGE_ID")
    p.set_defaults(func=_build)

    p = sub.add_parser("verify", help="check a package's signature, sizes and hashes")
    p.add_argument("dir")
    p.add_argument("--public-key", action="append", required=True, metavar="TEXT",
                   help="a trusted public key (base64); repeat to trust several")
    p.add_argument("--allow-extra", action="store_true",
                   help="accept files the manifest does not list")
    p.set_defaults(func=_verify)

    p = sub.add_parser("probe", help="identify creatives and check them against the limits")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_probe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
