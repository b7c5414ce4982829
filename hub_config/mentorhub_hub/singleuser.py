"""``mentorhub-singleuser``: JupyterHub's single-user server, started lean.

jupyter-events validates its schemas with jsonschema, whose format checker imports
``rfc3987_syntax`` when it is installed; building that module's grammar costs about
0.7 s of every server start on a 2-core machine. No jupyter event schema uses the
formats it checks (iri, iri-reference), so the import is refused here, before anything
else loads, and jsonschema falls back to skipping those formats.
"""

from __future__ import annotations

import sys


def main() -> None:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from jupyterhub.singleuser import main as singleuser_main

    sys.exit(singleuser_main())


if __name__ == "__main__":
    main()
