"""``python -m dashboards``: write dashboards/*.json from :mod:`dashboards.build`."""

from __future__ import annotations

from pathlib import Path

from dashboards.build import DASHBOARDS, render

OUT = Path(__file__).resolve().parent


def main() -> int:
    for name, build in DASHBOARDS.items():
        path = OUT / f"{name}.json"
        path.write_text(render(build()))
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
