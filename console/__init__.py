"""The investigator console: a web application over the history store, with roles, audit and evidence.

An adapter like the CLI: it reads and writes through ``storage.Store``'s query functions (the same
``flagged``, ``account``, ``decide`` the commands use) and holds no SQL of its own. ``slotguard
console`` serves it (uvicorn, 127.0.0.1 by default); see docs/console.md.
"""
