"""Chalice wiring only: every route hands its event to ``chalicelib.entry``."""

from chalice import Chalice, Rate, Response

from chalicelib import entry, web
from chalicelib.config import settings

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
    return entry.client_config(app.current_request.to_dict())


@app.route("/")
def index():
    return _asset("index.html")


@app.route("/static/{name}")
def static(name):
    return _asset(name)


def _asset(name):
    found = web.asset(name)
    if found is None:
        return Response(body={"error": "not found"}, status_code=404)
    body, content_type = found
    return Response(body=body, status_code=200, headers={"Content-Type": content_type, **web.SECURITY_HEADERS})
