"""The gateway API's route modules; each has ``register(app)``."""
