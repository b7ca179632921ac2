"""audit events are append-only

Revision ID: a7e1c0de5ea1
Revises: 0496b9e339d8
Create Date: 2026-11-29 03:30:00

The database itself refuses to change or delete an audit event, whatever the client: the
application, a script, or someone at a SQL prompt with the application's credentials.
"""
from alembic import op


revision = 'a7e1c0de5ea1'
down_revision = '0496b9e339d8'
branch_labels = None
depends_on = None

MESSAGE = 'audit events cannot be changed or deleted'


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        for verb in ('update', 'delete'):
            op.execute(f"DROP TRIGGER audit_events_no_{verb}")
