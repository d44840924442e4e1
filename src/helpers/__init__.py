"""The workflow library the notebooks share: sessions, stack, tenants, data, pipeline, deploy."""
