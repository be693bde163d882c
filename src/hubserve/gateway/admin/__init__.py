"""Server routes: health, info and the model list."""
