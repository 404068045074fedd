"""Content packages (manifest, hashing, Ed25519 signing) shared by controller and terminal.

Empty until the signage issue builds it; the package exists so both sides can depend on it.
"""
