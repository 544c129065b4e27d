"""Plivo at the edge: the one API client (client), its typed errors (errors), callback
signatures (signature) and the replay guard for signed callbacks (replay).

May import shared.core.
"""
