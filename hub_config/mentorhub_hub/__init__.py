"""mentorhub's JupyterHub side: settings, configuration pieces, authenticator, spawner, CLI."""

__version__ = "0.1.0"
