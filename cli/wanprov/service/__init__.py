"""The ComfyUI instances as services: their unit and launch files (units), and how they are written and
started on one host (install)."""
