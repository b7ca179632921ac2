"""interoperability: CAP alerts, Open311 clients, webhooks

Revision ID: c4d6f3a2b8e1
Revises: b3c5e2f1a9d0
Create Date: 2026-11-29 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c4d6f3a2b8e1'
down_revision = 'b3c5e2f1a9d0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cap_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('identifier', sa.String(length=255), nullable=False),
        sa.Column('sender', sa.String(length=255), nullable=False),
        sa.Column('sent', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('msg_type', sa.String(length=16), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('references', sa.Text(), nullable=True),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('area_code', sa.String(length=15), nullable=True),
        sa.Column('event', sa.String(length=255), nullable=True),
        sa.Column('urgency', sa.String(length=16), nullable=True),
        sa.Column('severity', sa.String(length=16), nullable=True),
        sa.Column('certainty', sa.String(length=16), nullable=True),
        sa.Column('headline', sa.String(length=500), nullable=True),
        sa.Column('expires', sa.DateTime(timezone=True), nullable=True),
        sa.Column('geometry', sa.JSON(), nullable=True),
        sa.Column('xml', sa.Text(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by'], ['users.id']),
        sa.ForeignKeyConstraint(['incident_id'], ['incidents.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('identifier'),
    )
    with op.batch_alter_table('cap_alerts') as batch_op:
        batch_op.create_index('ix_cap_alerts_direction', ['direction'])
        batch_op.create_index('ix_cap_alerts_incident_id', ['incident_id'])
        batch_op.create_index('ix_cap_alerts_area_code', ['area_code'])
    op.create_table(
        'api_clients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('key_prefix', sa.String(length=12), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('area_code', sa.String(length=15), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'webhook_subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=128), nullable=False),
        sa.Column('event_types', sa.JSON(), nullable=False),
        sa.Column('area_code', sa.String(length=15), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_event_id', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('event_type', sa.String(length=48), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscription_id', 'event_id'),
    )
    with op.batch_alter_table('webhook_deliveries') as batch_op:
        batch_op.create_index('ix_webhook_deliveries_subscription_id', ['subscription_id'])
        batch_op.create_index('ix_webhook_deliveries_status', ['status'])
        batch_op.create_index('ix_webhook_deliveries_next_attempt_at', ['next_attempt_at'])


def downgrade():
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_subscriptions')
    op.drop_table('api_clients')
    op.drop_table('cap_alerts')
