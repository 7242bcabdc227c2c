"""Route modules; each has ``register(app)``."""
