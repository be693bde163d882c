"""The scheduler: owns which models are loaded and runs their work off the event loop."""
