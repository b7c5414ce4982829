"""Permissions as data: JupyterHub roles and mentorhub's custom scopes.

Course roles (learner, mentor, instructor) live in the service, which mirrors
them into hub groups ``course-<slug>-<role>s``. Platform abilities are custom scopes.
"""

from __future__ import annotations

from traitlets.config import Config

from ..settings import MentorhubSettings

PUBLISH_SCOPE = "custom:mentorhub:publish"
SERVICE_ACCESS = "access:services!service=mentorhub"

CUSTOM_SCOPES = {
    PUBLISH_SCOPE: {"description": "Publish courses to the mentorhub catalog and teach them."},
}

# the scopes the mentorhub service holds on the hub: mirror course roles into groups
SERVICE_SCOPES = ["list:users", "read:users:name", "read:users:groups", "admin:groups", "groups"]


def apply(c: Config, s: MentorhubSettings) -> None:
    c.JupyterHub.custom_scopes = CUSTOM_SCOPES
    instructors = list(s.instructors)
    if s.demo:
        from ..demo import DEMO_INSTRUCTORS

        instructors += DEMO_INSTRUCTORS
    c.JupyterHub.load_roles = [
        # every user may use the mentorhub service; what they may do there depends on the course
        {"name": "user", "scopes": ["self", SERVICE_ACCESS]},
        {
            "name": "mentorhub-author",
            "description": "May publish courses",
            "scopes": [PUBLISH_SCOPE],
            "users": sorted(set(instructors)),
        },
        {
            "name": "mentorhub-service",
            "description": "The mentorhub service: mirrors course roles into groups",
            "scopes": SERVICE_SCOPES,
            "services": ["mentorhub"],
        },
    ]
