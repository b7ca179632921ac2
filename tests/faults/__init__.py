"""Fault injection: real `gridwatch serve` processes, real signals, real clients; no mocks."""
