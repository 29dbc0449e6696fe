"""Tests of the pure parts: no server, no socket, no subprocess (see README: Development)."""
