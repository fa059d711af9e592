"""The emulator's FastAPI routers, one module per resource; ``app.create_app`` puts them together."""
