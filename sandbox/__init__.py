"""Run a real Asterisk for ccbot's tests and demo (see README.md)."""
