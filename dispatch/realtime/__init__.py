"""Socket.IO namespaces /informant, /operator and /team."""
