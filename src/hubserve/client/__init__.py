"""Client-side helpers; imports nothing of the server."""
