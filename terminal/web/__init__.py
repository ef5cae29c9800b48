"""The service point's local web UI, served on 127.0.0.1 to a kiosk browser."""
