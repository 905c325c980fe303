"""The drive server: the simulator's frames in, steering and throttle out (`python drive.py MODEL`)."""
