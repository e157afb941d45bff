"""Behavioural features: the pure core (entity steps over MutableMapping state) and its runners."""
