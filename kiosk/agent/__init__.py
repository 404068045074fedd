"""The terminal's device agent: MQTT link, local store with the event outbox, heartbeats."""
