"""The store terminal: device agent, flows, UI (later), and the shared wire contract."""

__version__ = "0.1.0"
