"""course versions, tags, enrolment policies and requests, sync tracking

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

POLICY = sa.Enum(
    "open", "invite", "approval", name="enrolment_policy", native_enum=False, length=16
)


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("level", sa.String(32), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("enrolment_policy", POLICY, nullable=False, server_default="open")
        )
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("learners", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("invite_code_hash", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column(
                "mentoring_policy", sa.String(32), nullable=False, server_default="on-request"
            )
        )
        batch.add_column(sa.Column("source", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("current_version", sa.Integer(), nullable=True))
    # seats already taken by learners enrolled before this revision
    op.execute(
        "UPDATE courses SET learners = (SELECT COUNT(*) FROM course_roles "
        "WHERE course_roles.course_id = courses.id AND course_roles.role = 'learner')"
    )
    with op.batch_alter_table("course_roles") as batch:
        batch.add_column(sa.Column("synced_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "course_tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "course_id",
            sa.Integer(),
            sa.ForeignKey("courses.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.UniqueConstraint("course_id", "tag", name="uq_course_tags_course_tag"),
    )
    op.create_index("ix_course_tags_tag", "course_tags", ["tag"])
    op.create_table(
        "course_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "course_id",
            sa.Integer(),
            sa.ForeignKey("courses.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("commit", sa.String(40), nullable=False),
        sa.Column("published_by", sa.String(255), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edition", sa.JSON(), nullable=False),
        sa.UniqueConstraint("course_id", "number", name="uq_course_versions_number"),
        sa.UniqueConstraint("course_id", "commit", name="uq_course_versions_commit"),
    )
    op.create_table(
        "enrolment_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "course_id",
            sa.Integer(),
            sa.ForeignKey("courses.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("course_id", "username", name="uq_enrolment_requests_course_user"),
    )
    op.create_index("ix_enrolment_requests_course_id", "enrolment_requests", ["course_id"])


def downgrade() -> None:
    op.drop_index("ix_enrolment_requests_course_id", table_name="enrolment_requests")
    op.drop_table("enrolment_requests")
    op.drop_table("course_versions")
    op.drop_index("ix_course_tags_tag", table_name="course_tags")
    op.drop_table("course_tags")
    with op.batch_alter_table("course_roles") as batch:
        batch.drop_column("synced_at")
        batch.drop_column("synced_version")
    with op.batch_alter_table("courses") as batch:
        for column in (
            "current_version",
            "source",
            "mentoring_policy",
            "invite_code_hash",
            "learners",
            "capacity",
            "enrolment_policy",
            "level",
        ):
            batch.drop_column(column)
