"""Data rules shared by training, site adaptation and evaluation (no Qt, no torch)."""
