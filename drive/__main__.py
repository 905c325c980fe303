"""`python -m drive MODEL [IMAGE_FOLDER]`: see `python -m drive --help`."""
import sys

from drive.cli import main

sys.exit(main())
