"""One module per ``slotguard`` sub-command (see ``slotguard.cli``)."""
