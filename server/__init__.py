"""The ASGI application, its settings, routes and the command-line entry point."""
