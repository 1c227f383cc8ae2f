"""the organisation each process belongs to (every level of the tree has its processes)

A tenant reseller can now have tenants of its own (SPEC section 9, "Every level"), so the
processes it starts (creations, upgrades and updates of its tenants) are its own: it sees
those only, the root sees every process. Processes queued before this revision were all
started in the root.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_process_owner_id', ['owner_id'], unique=False)
    op.execute(
        "UPDATE process SET owner_id = (SELECT min(id) FROM organisation WHERE kind = 'root') "
        "WHERE owner_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('process', schema=None) as batch_op:
        batch_op.drop_index('ix_process_owner_id')
        batch_op.drop_column('owner_id')
