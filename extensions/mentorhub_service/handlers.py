"""HTTP translation of the managers. Every route but the OAuth callback needs a hub identity."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from . import __version__
from .base import APIHandler, api
from .courses import hub_group
from .orm import Role

BUNDLE = "application/x-git-bundle"


class HealthHandler(web.RequestHandler):
    """The service's root: JupyterHub checks it is alive here (no identity, no data)."""

    def get(self) -> None:
        self.finish({"service": "mentorhub", "version": __version__})


class MeHandler(APIHandler):
    """Who the caller is and their role in each course."""

    @api
    async def get(self) -> None:
        user = self.current_user
        roles = self.courses.roles_of(user["name"])
        if "groups" in user:  # repair the hub-group mirror for this user if it drifted
            expected = {hub_group(r["course"], Role(r["role"])) for r in roles}
            await self.hub_groups.reconcile_user(user["name"], set(user["groups"]), expected)
        self.write_json({"name": user["name"], "admin": bool(user.get("admin")), "courses": roles})


class CatalogHandler(APIHandler):
    @api
    async def get(self) -> None:
        try:
            limit = min(max(int(self.get_argument("limit", "50")), 1), 200)
            offset = max(int(self.get_argument("offset", "0")), 0)
        except ValueError:
            raise web.HTTPError(400, "limit and offset must be integers") from None
        result = self.courses.catalog(
            self.caller.name,
            self.get_argument("q", "").strip(),
            self.get_arguments("tag"),
            limit,
            offset,
        )
        self.write_json(result)


@web.stream_request_body
class PublishHandler(APIHandler):
    """Publish a repository: JSON ``{"source": "https://...", "ref": ...}`` or a git bundle body.

    The body is streamed to a private file, and only callers the hub vouched for may send
    more than the service's small default (a bundle may be as large as a repository).
    """

    async def prepare(self) -> None:
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(401, "authentication required: a valid JupyterHub token or login")
        self.request.connection.set_max_body_size(self.settings["mentorhub.max_upload_bytes"])
        self._upload = tempfile.TemporaryDirectory(
            dir=self.publisher.editions_root, prefix=".upload-"
        )
        fd = os.open(Path(self._upload.name) / "body", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._body = os.fdopen(fd, "wb")

    def data_received(self, chunk: bytes) -> None:
        self._body.write(chunk)

    def on_finish(self) -> None:
        if hasattr(self, "_upload"):
            self._body.close()
            self._upload.cleanup()

    @api
    async def post(self) -> None:
        self._body.close()
        body = Path(self._upload.name) / "body"
        loop = asyncio.get_running_loop()
        pool = self.settings["mentorhub.executor"]
        if self.request.headers.get("Content-Type", "").startswith(BUNDLE):
            ref = self.get_argument("ref", None)
            shown = self.get_argument("source", "uploaded bundle")
            bundle = body.rename(body.with_name("course.bundle"))
            published = await loop.run_in_executor(
                pool,
                lambda: self.publisher.publish(self.caller, str(bundle), ref, shown_source=shown),
            )
        else:
            if body.stat().st_size > 1 << 16:
                raise web.HTTPError(
                    413, "a publish request without a bundle is a small JSON object"
                )
            self.request.body = body.read_bytes()
            data = self.body()
            source, ref = data.get("source"), data.get("ref")
            if not isinstance(source, str) or urlparse(source).scheme not in ("https", "http"):
                raise web.HTTPError(
                    400,
                    "source must be an http(s) git URL; upload a git bundle for local repositories",
                )
            if ref is not None and not isinstance(ref, str):
                raise web.HTTPError(400, "ref must be a string")
            published = await loop.run_in_executor(
                pool, lambda: self.publisher.publish(self.caller, source, ref)
            )
        for change in published.changes:
            await self.hub_groups.apply(change)
        self.write_json(published.json(), status=201 if published.new else 200)


class CourseHandler(APIHandler):
    @api
    async def get(self, slug: str) -> None:
        self.write_json(self.courses.detail(self.caller.name, slug))


class EnrolmentHandler(APIHandler):
    @api
    async def post(self, slug: str) -> None:
        code = self.body().get("code") if self.request.body else None
        if code is not None and not isinstance(code, str):
            raise web.HTTPError(400, "code must be a string")
        result = self.enrolment.enrol(self.caller, slug, code)
        if result.change:
            await self.hub_groups.apply(result.change)
        self.write_json(
            {"course": slug, "status": result.status}, status=201 if result.change else 202
        )

    @api
    async def delete(self, slug: str) -> None:
        await self.hub_groups.apply(self.enrolment.leave(self.caller, slug))
        self.set_status(204)
        self.finish()


class EditionHandler(APIHandler):
    """The files of the course's current (or a given) version, with their hashes."""

    @api
    async def get(self, slug: str) -> None:
        version = self.get_argument("version", None)
        if version is not None and not version.isdigit():
            raise web.HTTPError(400, "version must be a version number")
        self.write_json(
            self.publisher.edition(self.caller, slug, int(version) if version else None)
        )


class EditionFileHandler(APIHandler):
    @api
    async def get(self, slug: str, number: str, path: str) -> None:
        file = self.publisher.edition_file(self.caller, slug, int(number), path)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish()


class SyncedHandler(APIHandler):
    """A learner's server reports which version it synced."""

    @api
    async def post(self, slug: str) -> None:
        version = self.body().get("version")
        if not isinstance(version, int):
            raise web.HTTPError(400, "version must be an integer")
        self.courses.record_sync(self.caller, slug, version)
        self.set_status(204)
        self.finish()


class RosterHandler(APIHandler):
    @api
    async def get(self, slug: str) -> None:
        roster = self.courses.roster(self.caller, slug)
        roster["requests"] = self.enrolment.requests(self.caller, slug)
        self.write_json(roster)


class ApproveHandler(APIHandler):
    @api
    async def post(self, slug: str, username: str) -> None:
        await self.hub_groups.apply(self.enrolment.approve(self.caller, slug, username))
        self.write_json({"course": slug, "username": username, "status": "enrolled"}, status=201)


class InviteCodeHandler(APIHandler):
    @api
    async def post(self, slug: str) -> None:
        self.write_json(
            {"course": slug, "code": self.enrolment.new_invite_code(self.caller, slug)}, status=201
        )


class MemberHandler(APIHandler):
    @api
    async def put(self, slug: str, username: str) -> None:
        role = self.body().get("role")
        if role not in Role.__members__:
            raise web.HTTPError(400, f"role must be one of {', '.join(Role.__members__)}")
        change = self.courses.set_role(self.caller, slug, username, Role(role))
        await self.hub_groups.apply(change)
        self.write_json({"course": slug, "username": username, "role": role})

    @api
    async def delete(self, slug: str, username: str) -> None:
        change = self.courses.set_role(self.caller, slug, username, None)
        await self.hub_groups.apply(change)
        self.set_status(204)
        self.finish()


def default_handlers(prefix: str) -> list[tuple[str, type[web.RequestHandler]]]:
    course, user = prefix + r"api/courses/([a-z0-9][a-z0-9-]*)", r"([^/]+)"
    return [
        (prefix, HealthHandler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
        (prefix + "api/me", MeHandler),
        (prefix + "api/courses", CatalogHandler),
        (prefix + "api/courses/publish", PublishHandler),
        (course, CourseHandler),
        (course + "/enrolment", EnrolmentHandler),
        (course + "/edition", EditionHandler),
        (course + r"/versions/(\d+)/files/(.+)", EditionFileHandler),
        (course + "/synced", SyncedHandler),
        (course + "/roster", RosterHandler),
        (course + f"/requests/{user}", ApproveHandler),
        (course + "/invite-code", InviteCodeHandler),
        (course + f"/members/{user}", MemberHandler),
    ]
