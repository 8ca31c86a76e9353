"""Credit Exchange Gateway: signed company credit profiles between China and SCO partner institutions."""

__version__ = "0.1.0"
