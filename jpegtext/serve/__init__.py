"""The receiver as a service: ``jpegtext serve`` (an ASGI app run by uvicorn) and its page.

::

    from jpegtext.serve import ServeConfig, create_app
    app = create_app("tgjar-text-v15", config=ServeConfig(workers=1, queue=8))
    # uvicorn.run(app, host="127.0.0.1", port=8000)

The model is loaded once; restorations run in a bounded thread pool (a full queue answers 503,
a slow job 504). Endpoints: ``POST /v1/restore``, ``POST /v1/encode``, ``POST /v1/inspect``,
``GET /v1/models``, ``GET /healthz`` and the comparison page at ``/``.

Starlette, uvicorn and python-multipart are optional (``pip install 'jpegtext[serve]'``): this
package imports them only when an app is built, so ``import jpegtext`` never needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from jpegtext.errors import MissingDependencyError

__all__ = ["ServeConfig", "create_app", "require_serve_dependencies"]

#: import name -> PyPI name of what the service needs
_DEPENDENCIES = {"starlette": "starlette", "uvicorn": "uvicorn",
                 "python_multipart": "python-multipart"}


def require_serve_dependencies() -> None:
    """Check that the service's optional packages are installed.

    Raises:
        MissingDependencyError: naming the missing packages and the install command.
    """
    missing = []
    for module, dist in _DEPENDENCIES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(dist)
    if missing:
        raise MissingDependencyError(
            f"jpegtext serve needs {', '.join(missing)}: pip install 'jpegtext[serve]'")


def __getattr__(name: str) -> Any:
    if name in ("ServeConfig", "create_app"):
        require_serve_dependencies()
        from jpegtext.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'jpegtext.serve' has no attribute {name!r}")
