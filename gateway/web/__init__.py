"""The web layer: app factory, endpoints and error mapping."""
