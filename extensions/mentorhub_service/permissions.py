"""Who may do what: one table, one function.

Glossary:
- caller: the JupyterHub user making the request, with the scopes of their token.
- action: what the request does, e.g. ``course:members:read``.
- course role: the caller's role in the course the request is about, or None.
- platform scope: a custom JupyterHub scope held outside any course (``custom:mentorhub:publish``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .orm import Role

PUBLISH_SCOPE = "custom:mentorhub:publish"

# action -> course roles that may do it
COURSE_ACTIONS: dict[str, frozenset[Role]] = {
    "course:content:read": frozenset(Role),
    "course:members:read": frozenset({Role.mentor, Role.instructor}),
    "course:members:write": frozenset({Role.instructor}),
    "course:publish": frozenset({Role.instructor}),
}

# action -> platform scope that allows it without any course role
PLATFORM_ACTIONS: dict[str, str] = {
    "course:create": PUBLISH_SCOPE,
}


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False


class Forbidden(Exception):
    """The caller may not do this; the message says what they lack, never what the data is."""


def may(caller: Caller, action: str, course_role: Role | None = None) -> bool:
    if action in PLATFORM_ACTIONS:
        return PLATFORM_ACTIONS[action] in caller.scopes
    allowed = COURSE_ACTIONS[action]  # KeyError: an action nobody wrote down is a bug
    return course_role in allowed


def require(caller: Caller, action: str, course_role: Role | None = None) -> None:
    if not may(caller, action, course_role):
        where = (
            f"your role here is {course_role.value}"
            if course_role
            else "you have no role in this course"
        )
        raise Forbidden(f"{caller.name} may not {action} ({where})")
