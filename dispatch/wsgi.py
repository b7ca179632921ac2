"""The WSGI entry point for gunicorn's gevent worker (Procfile `web:`)."""

from dispatch import create_app

app = create_app(async_mode="gevent")

if app.config["GRIDWATCH_ENV"] == "production":
    from dispatch.services.demo import refuse_demo_accounts

    with app.app_context():
        refuse_demo_accounts()
