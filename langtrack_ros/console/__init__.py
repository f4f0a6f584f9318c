"""The operator console: one web page that shows the tracker live and takes a new sentence.

``langtrack console`` (video file, webcam, DDS topics, bag) and the rclpy node (parameter
``console.enabled``) serve the same page. Three parts, so the web server can never slow the robot:

- :mod:`hub`: the newest frame and a short history, written by the tracking loop, read by viewers;
- :mod:`server`: the aiohttp app in its own thread and event loop (page, WebSocket, token check);
- :mod:`runner`: the tracking loop over a frame source in its own thread, pause and query controls.

Why aiohttp: one well-kept library (aio-libs) that is both the HTTP server and the WebSocket
server, with no ASGI server, no pydantic and no build step beside it; its ``AppRunner`` runs in a
thread we own, which is what an rclpy node needs (rclpy owns the main thread there).
This package imports neither rclpy nor cyclonedds: the node and ``langtrack console --image-topic``
hand it frames through :meth:`runner.Console.track`.
"""
