"""The central controller: MQTT workers, registry, storage, HTTP API and console."""
