"""The clerk's local web UI of the issuance station (`kartu issuance serve`), on 127.0.0.1 only."""
