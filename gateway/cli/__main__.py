"""``python -m gateway.cli``, as the tests run it."""

from gateway.cli import app

app(prog_name="cxg")
