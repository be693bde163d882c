"""Account routes: whoami, usage, model settings."""
