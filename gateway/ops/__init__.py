"""Running a node: the WSGI server, TLS, metrics, start-up checks, backup and selftest."""
