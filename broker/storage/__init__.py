"""Controller storage: one SQLAlchemy Core schema on SQLite (aiosqlite, WAL) or PostgreSQL.

    db = await Database.open(default_sqlite_url("var/controller.db"))
    await db.create_schema()
    new = await insert_events(db, [(device_id, seq, ts_ms, type, data_json, received_ms), ...])

Functions take the `Database` first; records are validated frozen dataclasses; times are UTC
epoch milliseconds.
"""

from broker.storage.commands import (
    ACK_TRANSITIONS,
    apply_command_ack,
    create_command,
    expire_commands,
    get_command,
    list_commands,
    record_command_ack,
)
from broker.storage.database import Database, default_sqlite_url
from broker.storage.devices import (
    DeviceReport,
    add_device,
    apply_device_reports,
    delete_device,
    get_device,
    list_devices,
    set_presence,
    set_reported_state,
    touch,
    touch_many,
)
from broker.storage.errors import AlreadyExistsError, NotFoundError, StorageError
from broker.storage.events import (
    EVENT_COLUMNS,
    BatchRow,
    EventRow,
    count_events,
    device_seqs,
    events_per_type,
    insert_event_batches,
    insert_events,
    list_events,
)
from broker.storage.records import (
    FINAL_COMMAND_STATUSES,
    OPEN_COMMAND_STATUSES,
    STORE_FORMATS,
    CommandRecord,
    DeviceRecord,
    StoreRecord,
    is_valid_timezone,
)
from broker.storage.schema import COMMAND_STATUSES, ORIENTATIONS, metadata
from broker.storage.stores import get_store, list_stores, upsert_store

__all__ = [
    "ACK_TRANSITIONS",
    "COMMAND_STATUSES",
    "EVENT_COLUMNS",
    "FINAL_COMMAND_STATUSES",
    "OPEN_COMMAND_STATUSES",
    "ORIENTATIONS",
    "STORE_FORMATS",
    "AlreadyExistsError",
    "BatchRow",
    "CommandRecord",
    "Database",
    "DeviceRecord",
    "DeviceReport",
    "EventRow",
    "NotFoundError",
    "StorageError",
    "StoreRecord",
    "add_device",
    "apply_command_ack",
    "apply_device_reports",
    "count_events",
    "create_command",
    "default_sqlite_url",
    "delete_device",
    "device_seqs",
    "events_per_type",
    "expire_commands",
    "get_command",
    "get_device",
    "get_store",
    "insert_event_batches",
    "insert_events",
    "is_valid_timezone",
    "list_commands",
    "list_devices",
    "list_events",
    "list_stores",
    "metadata",
    "record_command_ack",
    "set_presence",
    "set_reported_state",
    "touch",
    "touch_many",
    "upsert_store",
]
