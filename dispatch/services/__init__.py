"""One function per use case; the only layer that changes state."""
