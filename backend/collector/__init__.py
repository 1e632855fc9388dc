"""The event collector: the wire protocol (``protocol``) and the ingest route (``routes``)."""
