"""``python -m tests.golden``: regenerate the golden feature vectors (after bumping the version)."""

import sys

from tests.golden import main

sys.exit(main())
