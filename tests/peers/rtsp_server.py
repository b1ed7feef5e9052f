#!/usr/bin/python3
"""An RTSP camera for the vision tests: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, through python3-gi) serving a moving test
pattern, 320x240 at 25 fps, as RTP/JPEG, like many IP cameras.

  rtsp_server.py PORT        (rtsp://127.0.0.1:PORT/cam)

Prints "listening PORT" once it accepts connections.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
# I420: the JPEG payloader takes only the 4:2:0 JPEGs this gives.
factory.set_launch("( videotestsrc pattern=ball is-live=true ! video/x-raw,format=I420,width=320,height=240,"
                   "framerate=25/1 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("listening", sys.argv[1], flush=True)
GLib.MainLoop().run()
