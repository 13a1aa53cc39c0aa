"""The fleet view: reports that span hosts (pure; the CLI and the playbooks call it)."""
