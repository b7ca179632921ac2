"""The WSGI entry point for gunicorn's gevent worker (Procfile `web:`)."""

from dispatch import create_app

app = create_app(async_mode="gevent")
