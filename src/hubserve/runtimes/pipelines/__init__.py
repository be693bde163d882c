"""Pipeline runtimes: whole models for speech, audio and text-to-text tasks, each behind a small interface."""
