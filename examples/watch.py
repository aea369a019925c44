#!/usr/bin/env python3
"""Print effnetd's predictions, one line per classified frame (docs/PROTOCOL.md)."""
import argparse, json, os, signal, socket

signal.signal(signal.SIGINT, signal.SIG_DFL)   # Ctrl-C and `| head`: exit quietly
signal.signal(signal.SIGPIPE, signal.SIG_DFL)

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--socket", default=os.environ.get("EFFNETD_SOCKET", "/run/effnetd/effnetd.sock"))
ap.add_argument("--camera", action="append", help="only this camera (repeat for more)")
args = ap.parse_args()

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    sock.connect(args.socket)
except OSError as e:
    raise SystemExit("cannot connect to %s: %s" % (args.socket, e.strerror))
subscribe = {"type": "subscribe", "cameras": args.camera} if args.camera else {"type": "subscribe"}
sock.sendall((json.dumps(subscribe) + "\n").encode())
for line in sock.makefile("r", encoding="utf-8", newline="\n"):
    msg = json.loads(line)
    if msg["type"] == "hello" and msg["protocol"] != 1:
        raise SystemExit("effnetd speaks protocol %d, this client 1" % msg["protocol"])
    if msg["type"] == "error":
        raise SystemExit("effnetd: " + msg["message"])
    if msg["type"] == "prediction":
        best = msg["top"][0] if msg["top"] else {"label": "-", "score": 0.0}
        note = "  (%d dropped)" % msg["dropped"] if "dropped" in msg else ""
        print("%s %s #%d %s %.1f%%%s" % (msg["captured_at"], msg["camera"], msg["seq"],
                                         best["label"], best["score"] * 100, note), flush=True)
raise SystemExit("effnetd closed the connection")
