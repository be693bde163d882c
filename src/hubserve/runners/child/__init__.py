"""The runner process itself: it loads one model and serves the protocol's calls on its socket."""
