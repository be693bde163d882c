"""The gateway's side of a runner process: start it, call it over its socket, stop it."""
