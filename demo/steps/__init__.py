"""Demo steps, one module per capability; `demo/run.py` runs them in order."""
