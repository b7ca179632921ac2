"""bulletins, and every informant assignment in the audit log

Revision ID: b3c5e2f1a9d0
Revises: a7e1c0de5ea1
Create Date: 2026-11-29 09:00:00

The supervision figures are read from the audit log alone. Assignments made in bulk (the demo
seed, `users import`) wrote no event of their own before this revision: one
`informant.assigned` event is added for each such assignment, at the time it started.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = 'b3c5e2f1a9d0'
down_revision = 'a7e1c0de5ea1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'bulletins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=32), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('scope_code', sa.String(length=15), nullable=False),
        sa.Column('prepared_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('period', 'level', 'scope_code'),
    )
    bind = op.get_bind()
    logged = {
        (entity_id, area_code)
        for entity_id, area_code in bind.execute(
            sa.text(
                "SELECT entity_id, area_code FROM audit_events "
                "WHERE action = 'informant.assigned'"
            )
        )
    }
    rows = [
        {
            'at': started_at,
            'action': 'informant.assigned',
            'entity_type': 'user',
            'entity_id': str(user_id),
            'area_code': cell_code,
            'after': json.dumps({'cell_code': cell_code}),
        }
        for user_id, cell_code, started_at in bind.execute(
            sa.text("SELECT user_id, cell_code, started_at FROM informant_assignments ORDER BY id")
        )
        if (str(user_id), cell_code) not in logged
    ]
    if rows:
        cast = 'CAST(:after AS JSON)' if bind.dialect.name == 'postgresql' else ':after'
        bind.execute(
            sa.text(
                "INSERT INTO audit_events (at, action, entity_type, entity_id, area_code, after) "
                f"VALUES (:at, :action, :entity_type, :entity_id, :area_code, {cast})"
            ),
            rows,
        )


def downgrade():
    # The added audit events stay: the log is append-only, and they are true.
    op.drop_table('bulletins')
