"""process takeovers: how many times a process was taken over in its current attempt

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process') as batch_op:
        batch_op.add_column(sa.Column('takeovers', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('process') as batch_op:
        batch_op.drop_column('takeovers')
