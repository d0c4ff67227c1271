"""Where the surfaces live in the URL space."""

API_PATHS = ("/v1/", "/data/foundation/", "/ls/api/")  # answered in JSON, as the API answers
ADMIN_PATH = "/admin/"
