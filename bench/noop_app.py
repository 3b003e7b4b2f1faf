"""The baseline for bench/api.py: a bare Flask app with one no-op JSON route."""

from flask import Flask

app = Flask(__name__)


@app.get("/noop")
def noop():
    return {"ok": True}
