"""``mentorhub-singleuser``: JupyterHub's single-user server, started lean.

Everything here only removes start-up work whose result a user's server never uses; the
server that comes up is JupyterHub's own (``jupyterhub.singleuser``) with JupyterLab.
Measured with ``bench/spawn.py`` and ``bench/profile_start.py`` on a 2-core machine:

- jupyter-events validates its schemas with jsonschema, whose format checker imports
  ``rfc3987_syntax`` when it is installed; building that module's grammar costs about
  1 s of every server start. No jupyter event schema uses the formats it checks (iri,
  iri-reference), so the import is refused here, before anything else loads, and
  jsonschema falls back to skipping those formats.
- ``jupyterlab.labapp`` computes JupyterLab's version when it is imported, and on the way
  runs ``node yarn.js config`` (about 0.3 s) only to learn the npm registry, which the
  version does not depend on. That one import runs without the subprocess; anything later
  that needs the registry (building extensions) still asks yarn.
- A learner's server (``MENTORHUB_SERVER_PROFILE=learner``, set by the spawner for
  everyone who teaches no course) does not load the server extensions only staff use:
  Voila, nbgrader's formgrader, assignment and course lists and validation, and the
  language-server bridge. Importing nbgrader alone costs about 0.3 s. Their JupyterLab
  front ends (nbgrader's menus and Validate button, Voila's preview) are hidden from that
  learner's JupyterLab too, so nothing offers a button whose server side is absent. Staff
  servers load every installed extension, as before.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile

# server extensions a learner's own server does without (they stay installed for staff)
LEARNER_SKIPS = (
    "voila.server_extension",
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",
    "jupyter_lsp",
)
# ... and the JupyterLab extensions that would call them
LEARNER_HIDDEN_LAB_EXTENSIONS = ("@jupyter/nbgrader", "@voila-dashboards/jupyterlab-preview")


def server_args(argv: list[str], profile: str | None) -> list[str]:
    """The server's command line: the spawner's arguments, then the profile's extension switches."""
    args = list(argv)
    if profile == "learner":
        args += [f"--ServerApp.jpserver_extensions={name}=False" for name in LEARNER_SKIPS]
    return args


def _hide_lab_extensions(names: tuple[str, ...]) -> None:
    """Disable JupyterLab extensions in this server only: a page_config.json of its own,
    first on JUPYTER_CONFIG_PATH, removed when the server exits."""
    config_dir = tempfile.mkdtemp(prefix="mentorhub-labconfig-")
    atexit.register(shutil.rmtree, config_dir, True)
    os.mkdir(os.path.join(config_dir, "labconfig"))
    with open(os.path.join(config_dir, "labconfig", "page_config.json"), "w") as f:
        json.dump({"disabledExtensions": {name: True for name in names}}, f)
    path = os.environ.get("JUPYTER_CONFIG_PATH")
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [config_dir, path] if path else [config_dir]
    )


def _import_jupyterlab_without_yarn_config() -> None:
    """Import ``jupyterlab.labapp`` without the yarn subprocess its module-level version lookup runs."""
    try:
        import jupyterlab.commands as commands
    except ImportError:
        return
    real = commands._yarn_config
    commands._yarn_config = lambda logger: {"yarn config": {}, "npm config": {}}
    try:
        import jupyterlab.labapp  # noqa: F401
    except Exception:  # the server imports it again, and reports the failure itself
        pass
    finally:
        commands._yarn_config = real


def main() -> None:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    profile = os.environ.get("MENTORHUB_SERVER_PROFILE")
    args = server_args(sys.argv[1:], profile)
    if profile == "learner":
        _hide_lab_extensions(LEARNER_HIDDEN_LAB_EXTENSIONS)
    _import_jupyterlab_without_yarn_config()
    from jupyterhub.singleuser import main as singleuser_main

    sys.exit(singleuser_main(args))


if __name__ == "__main__":
    main()
