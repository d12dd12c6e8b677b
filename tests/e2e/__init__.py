"""Scenarios end to end: real processes, servers, Chromium and signals, as a user runs gatecam."""
