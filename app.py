"""Chalice wiring only: every route hands its event to ``chalicelib.entry``."""

import os
import sys

from chalice import Chalice, Rate, Response

from chalicelib import entry, web
from chalicelib.config import settings

# `chalice deploy`, `chalice package` and `chalice local` run on the repository itself lack what
# the deploy fills in (REDIS_URL, the VPC, the WebSocket API's id, the IAM policy files), and
# chalice local serves no WebSockets: say which command to use instead. The projects the deploy
# generates set RANDOMCHAT_GENERATED_PROJECT (deploy/flow.py), so Chalice runs there as usual.
USE_INSTEAD = {
    "deploy": "chalice deploy cannot deploy this repository as it is (no Redis, VPC or API id yet): run "
    'make deploy STAGE=dev DEPLOY_ARGS="--redis-url ..." or make deploy STAGE=prod (docs/deploy.md)',
    "package": "chalice package cannot package this repository as it is: run make package STAGE=prod "
    "(or STAGE=dev), which writes the one CloudFormation template (docs/deploy.md)",
    "local": "chalice local serves no WebSockets, which this app needs: run make dev (the local API Gateway "
    "with WebSockets) and open http://127.0.0.1:8000/",
}


def _chalice_command(argv):
    """The Chalice CLI subcommand in ``argv``, skipping global options and their values."""
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--project-dir", "--profile"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return ""


_command = _chalice_command(sys.argv) if os.environ.get("AWS_CHALICE_CLI_MODE") else ""
if _command in USE_INSTEAD and not os.environ.get("RANDOMCHAT_GENERATED_PROJECT"):
    # Not SystemExit: chalice local imports the app in a server thread, where SystemExit would
    # end that thread silently and leave the reloader waiting for ever.
    sys.stderr.write(USE_INSTEAD[_command] + "\n")
    sys.stderr.flush()
    os._exit(2)

app = Chalice(app_name="randomchat")
app.experimental_feature_flags.update(["WEBSOCKETS"])
settings()  # fail the cold start with a clear message if the environment is wrong


@app.on_ws_connect()
def connect(event):
    return entry.on_connect(event.to_dict())


@app.on_ws_message()
def message(event):
    return entry.on_message(event.to_dict())


@app.on_ws_disconnect()
def disconnect(event):
    return entry.on_disconnect(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event):
    entry.on_schedule()


@app.route("/health")
def health():
    body, status = entry.health()
    return Response(body=body, status_code=status)


@app.route("/stats")
def stats():
    body, status = entry.stats()
    return Response(body=body, status_code=status, headers={"Cache-Control": "max-age=5"})


@app.route("/config")
def client_config():
    return entry.client_config()


@app.route("/")
def index():
    return _asset("index.html")


@app.route("/static/{name}")
def static(name):
    return _asset(name)


def _asset(name):
    # Hashed names are immutable, the page answers 304 to its own ETag (chalicelib/web.py).
    found = web.reply(name, app.current_request.headers.get("if-none-match"))
    if found is None:
        return Response(body={"error": "not found"}, status_code=404)
    return Response(body=found.body, status_code=found.status, headers=found.headers)
