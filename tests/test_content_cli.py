"""`kiosk-content` as an operator or technician uses it: exit codes and what it prints."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from content_fixtures import jpeg_bytes, png_bytes, small_package

from content.cli import main


def keygen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str, str]:
    key = tmp_path / "signing.pem"
    assert main(["keygen", str(key)]) == 0
    out = capsys.readouterr().out
    public = re.search(r"public key: (\S+)", out)
    kid = re.search(r"key id: ([0-9a-f]{16})", out)
    assert public and kid, out
    return key, public.group(1), kid.group(1)


def test_keygen_prints_the_public_key_and_keeps_the_private_one_private(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, public, _ = keygen(tmp_path, capsys)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["keygen", str(key)]) == 1  # never overwrite a key by accident
    assert "exists" in capsys.readouterr().err
    assert main(["keygen", str(key), "--force"]) == 0
    assert public not in capsys.readouterr().out


def test_build_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, public, kid = keygen(tmp_path, capsys)
    pkg = small_package(tmp_path / "pkg")
    assert main(["build", str(pkg), "--key", str(key), "--id", "spring-1"]) == 0
    out = capsys.readouterr().out
    assert "spring-1" in out and "4 files" in out and kid in out
    assert "d-loop.mp4" in out and (pkg / "manifest.json").exists()

    assert main(["verify", str(pkg), "--public-key", public]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK") and "spring-1" in out and "4 files" in out

    data = bytearray((pkg / "a-poster.png").read_bytes())
    data[100] ^= 1
    (pkg / "a-poster.png").write_bytes(bytes(data))
    assert main(["verify", str(pkg), "--public-key", public]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "a-poster.png" in err and "sha256" in err


def test_verify_with_the_wrong_or_a_bad_key(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    key, _, _ = keygen(tmp_path, capsys)
    _, other_public, _ = keygen(tmp_path / "other", capsys)
    pkg = small_package(tmp_path / "pkg")
    assert main(["build", str(pkg), "--key", str(key), "--id", "p"]) == 0
    capsys.readouterr()
    assert main(["verify", str(pkg), "--public-key", other_public]) == 1
    assert "unknown key" in capsys.readouterr().err
    assert main(["verify", str(pkg), "--public-key", "not-a-key"]) == 1
    assert "public key" in capsys.readouterr().err
    assert main(["verify", str(tmp_path), "--public-key", other_public]) == 1
    assert "manifest.json" in capsys.readouterr().err


def test_build_reports_the_file_it_refuses(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    key, _, _ = keygen(tmp_path, capsys)
    pkg = small_package(tmp_path / "pkg")
    (pkg / "e-broken.jpg").write_bytes(jpeg_bytes()[:500])
    assert main(["build", str(pkg), "--key", str(key), "--id", "p"]) == 1
    err = capsys.readouterr().err
    assert "e-broken.jpg" in err and "truncated" in err
    assert not (pkg / "manifest.json").exists()
    assert main(["build", str(pkg), "--key", str(tmp_path / "nope.pem"), "--id", "p"]) == 1
    assert "signing key" in capsys.readouterr().err


def test_probe_prints_facts_or_reasons(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "poster.jpg"
    good.write_bytes(png_bytes((200, 120)))  # a PNG, whatever its name says
    assert main(["probe", str(good)]) == 0
    out = capsys.readouterr().out
    assert "image/png 200x120" in out

    bad = tmp_path / "fake.png"
    bad.write_bytes(b"GIF89a" + bytes(30))
    assert main(["probe", str(good), str(bad), str(tmp_path / "missing.png")]) == 1
    captured = capsys.readouterr()
    assert "image/png" in captured.out
    assert "fake.png: REFUSED (unknown_type)" in captured.err
    assert "missing.png: cannot read" in captured.err


def test_samples_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "samples"
    assert main(["samples", str(out_dir), "--brand", "Corner Cafe", "--seed", "3"]) == 0
    printed = capsys.readouterr().out.split()
    names = sorted(Path(p).name for p in printed)
    assert names == ["corner-cafe-landscape.jpg", "corner-cafe-loop.mp4",
                     "corner-cafe-portrait.png"]
    assert main(["probe", *printed]) == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["build", "dir"])  # --key and --id are required
    assert info.value.code == 2
    assert "--key" in capsys.readouterr().err
