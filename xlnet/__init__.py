"""xlnet: machine-learning training written into spreadsheets as live formulas."""

__version__ = "0.1.0"
