"""The project's Mosquitto: password file, ACL and config rendering, and a managed process.

Pure parts (`passwords`, `acl`, `config`) do no I/O; `process.ManagedBroker` owns a data
directory and one `mosquitto` child process.
"""

from broker.mosquitto.acl import DEFAULT_CONTROLLER_USER, check_controller_user, render_acl
from broker.mosquitto.binary import find_mosquitto
from broker.mosquitto.config import BrokerConfig, render_conf
from broker.mosquitto.datadir import BrokerFiles
from broker.mosquitto.errors import BrokerError
from broker.mosquitto.files import atomic_write_text
from broker.mosquitto.net import Endpoint, free_port, port_accepts
from broker.mosquitto.passwords import (
    PasswordFormatError,
    check_hash,
    check_username,
    generate_password,
    hash_password,
    parse_password_file,
    render_password_file,
    verify_password,
)
from broker.mosquitto.process import ManagedBroker

__all__ = [
    "DEFAULT_CONTROLLER_USER",
    "BrokerConfig",
    "BrokerError",
    "BrokerFiles",
    "Endpoint",
    "ManagedBroker",
    "PasswordFormatError",
    "atomic_write_text",
    "check_controller_user",
    "check_hash",
    "check_username",
    "find_mosquitto",
    "free_port",
    "generate_password",
    "hash_password",
    "parse_password_file",
    "port_accepts",
    "render_acl",
    "render_conf",
    "render_password_file",
    "verify_password",
]
