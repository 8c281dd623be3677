"""Oversight of the response actions: the approval rules an admin sets, and the after-review of
what an admin carried out alone (break-glass)."""
