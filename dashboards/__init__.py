"""Grafana dashboards as code (grafana-foundation-sdk): operations and scalping; JSON committed here.

``python -m dashboards`` (``make dashboards``) regenerates ``dashboards/*.json`` from
:mod:`dashboards.build`; ``python -m dashboards.pictures`` (``make dashboards-png``) renders their
panels with matplotlib from the same queries.
"""
