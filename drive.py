"""`python drive.py MODEL [IMAGE_FOLDER]`: drive the simulator with a trained model (see --help)."""
import sys

from drive.cli import main

if __name__ == "__main__":
    sys.exit(main())
