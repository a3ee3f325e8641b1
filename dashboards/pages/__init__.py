"""The dashboard's pages; each module has ``layout(store, run_id, *, focus=None)`` and ``register(app, store)``."""
