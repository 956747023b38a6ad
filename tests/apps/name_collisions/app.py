# An app module with a name the image layer once used or might use: the image must never import it.
raise RuntimeError("the image imported the app's app.py")
