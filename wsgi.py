"""WSGI entry point: ``gunicorn wsgi:app``; ``flask --app wsgi <command>`` for the admin CLI."""

from app import create_app

app = create_app()
