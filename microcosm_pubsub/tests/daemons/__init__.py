"""Small consumer daemon programs the daemon tests run as subprocesses."""
