"""The `kartu` command line: one entry point over issuance, terminal, server and the reference card."""
