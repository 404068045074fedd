"""The broker's files in its data directory (small, synchronous file I/O)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from broker.mosquitto.files import atomic_write_text
from broker.mosquitto.passwords import parse_password_file, render_password_file


class BrokerFiles:
    """`mosquitto.conf`, `acl`, `passwd`, `mosquitto.log` and `mosquitto.db` in `data_dir`.

    `passwd` is the source of truth for users and survives restarts; conf and ACL are
    regenerated on every start. When we are root and the broker runs as another user
    (`broker_user`), every file and the directory are handed to that user.
    """

    def __init__(self, data_dir: Path, *, broker_user: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._broker_user = broker_user

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def password_path(self) -> Path:
        return self.data_dir / "passwd"

    @property
    def acl_path(self) -> Path:
        return self.data_dir / "acl"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mosquitto.log"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mosquitto.db"

    def _owner(self) -> tuple[int, int] | None:
        """uid/gid to hand files to, or None when the broker runs as us."""
        if os.geteuid() != 0 or self._broker_user in (None, "root"):
            return None
        entry = pwd.getpwnam(self._broker_user)
        return entry.pw_uid, entry.pw_gid

    def _hand_over(self, path: Path) -> None:
        if owner := self._owner():
            os.chown(path, *owner)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._hand_over(self.data_dir)

    def write(self, path: Path, text: str, *, mode: int = 0o644) -> None:
        atomic_write_text(path, text, mode=mode)
        self._hand_over(path)

    def read_users(self) -> dict[str, str]:
        """`{username: hash}` from the password file ({} when there is none)."""
        try:
            text = self.password_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        return parse_password_file(text)

    def write_users(self, users: dict[str, str]) -> None:
        self.prepare()
        self.write(self.password_path, render_password_file(users), mode=0o600)

    def write_all(self, *, conf: str, acl: str) -> None:
        """Write conf and ACL, create an empty password file if missing, touch the log."""
        self.prepare()
        if self.password_path.exists():
            os.chmod(self.password_path, 0o600)
            self.read_users()  # fail here, with a line number, rather than in the broker
        else:
            self.write_users({})
        self.write(self.acl_path, acl)
        self.write(self.conf_path, conf)
        with open(self.log_path, "a", encoding="utf-8"):
            pass
        self._hand_over(self.log_path)
