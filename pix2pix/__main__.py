"""Allow ``python -m pix2pix``."""

import sys

from pix2pix.cli import main

if __name__ == "__main__":
    sys.exit(main())
