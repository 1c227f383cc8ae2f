"""process take-overs; the process that creates each tenant reseller; orgs in setup

process.takeovers counts the take-overs of a process in its current attempt;
tenant_reseller.creation_process_id names the process that builds the tenant; the
organisation of a tenant still being created is in status 'setup' (closed to login).

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
    with op.batch_alter_table('tenant_reseller') as batch_op:
        batch_op.add_column(sa.Column('creation_process_id', sa.Integer(), nullable=True))
    # A tenant asked for before this revision: the newest creation process of its account.
    op.execute(
        "UPDATE tenant_reseller SET creation_process_id = ("
        "SELECT max(process.id) FROM process WHERE process.kind = 'tenant.create' "
        "AND process.lock_key = 'tenant-create:' || CAST(tenant_reseller.account_id AS TEXT))"
    )
    # The organisation of a tenant whose creation has not finished is closed to login.
    op.execute(
        "UPDATE organisation SET status = 'setup' WHERE id IN (SELECT org_id FROM "
        "tenant_reseller WHERE status = 'in-progress' AND org_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table('tenant_reseller') as batch_op:
        batch_op.drop_column('creation_process_id')
    with op.batch_alter_table('process') as batch_op:
        batch_op.drop_column('takeovers')
