"""The node's REST API (FastAPI): thin routes, errors mapped at the edge."""
