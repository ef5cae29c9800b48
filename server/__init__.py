"""Central server: the HTTP API (server.app.create_app), database models and migrations, and `kartu server` (server.cli)."""
