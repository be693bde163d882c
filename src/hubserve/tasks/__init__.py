"""Tasks: one module per task with its request model and its pre → forward → post steps."""
