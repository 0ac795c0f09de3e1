"""One Workforce: workforce data pipeline and warehouse for an integrated care system."""

__version__ = "0.1.0"
