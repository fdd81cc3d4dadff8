"""The floor every HTTP route stands on: authentication, problem details, limits, the request's
dependencies and the error handlers. It imports no route module; `command_api` and `query_api`
build on it and `vq/api.py` puts the app together."""
