# tiangolo's "custom module" test shape: MODULE_NAME=custom_app.custom_main VARIABLE_NAME=custom_var.
class App:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]})
        await send({"type": "http.response.body", "body": b"Hello world! From a custom module"})


custom_var = App
