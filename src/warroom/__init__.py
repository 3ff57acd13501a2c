"""warroom: the command center for the peak-sale day of an online marketplace."""

__version__ = "0.1.0"
