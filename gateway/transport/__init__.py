"""Transports: decode the wire, call the service core, encode the answer, map errors once."""
