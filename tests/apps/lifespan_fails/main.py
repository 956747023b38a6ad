"""An ASGI app whose startup fails the way frameworks report it (Starlette and FastAPI send
`lifespan.startup.failed` with the exception's message when a startup handler raises)."""

REASON = "database unreachable: connection refused (lifespan_fails fixture)"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.failed", "message": REASON})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"should not be served"})
