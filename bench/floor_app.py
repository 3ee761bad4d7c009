"""The floor of `make bench-load`: a bare Flask app served by the same gunicorn as NeedleSafe.

Whatever NeedleSafe's pages cost on top of this is ours; what this costs is the machine's,
gunicorn's and the load generator's.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello from the floor.\n"
