#!/usr/bin/env python3
"""An MJPEG-over-HTTP camera for the vision tests: serves the JPEG files of a
folder, in name order and looping, as multipart/x-mixed-replace at a fixed
frame rate, like the HTTP stream of many IP cameras.

  mjpeg_server.py PORT FOLDER [FPS]     (GET /stream.mjpg)

Standard library only. Prints "listening PORT" once it accepts connections.
"""
import http.server
import os
import sys
import time

PORT, FOLDER = int(sys.argv[1]), sys.argv[2]
FPS = float(sys.argv[3]) if len(sys.argv) > 3 else 25.0
FRAMES = [open(os.path.join(FOLDER, f), "rb").read() for f in sorted(os.listdir(FOLDER)) if f.endswith(".jpg")]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/stream.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        i = 0
        next_at = time.monotonic()
        try:
            while True:
                jpeg = FRAMES[i % len(FRAMES)]
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg))
                self.wfile.write(jpeg + b"\r\n")
                i += 1
                next_at += 1.0 / FPS
                time.sleep(max(0.0, next_at - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError):
            pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print("listening", PORT, flush=True)
server.serve_forever()
