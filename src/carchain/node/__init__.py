"""A running node: engine wiring, block production, the backend the API serves."""
