"""The staff dashboard: HTML pages with server-rendered SVG charts."""
