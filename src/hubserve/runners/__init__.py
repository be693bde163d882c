"""Runners: each loaded model lives in its own OS process, reached by the gateway over a Unix socket."""
