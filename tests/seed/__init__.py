"""The tutorial hubserve grew from, as its readers run it (see tutorial.py)."""
