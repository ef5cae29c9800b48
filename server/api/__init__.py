"""HTTP routers of the central server, one module per resource, all under /api/v1."""
