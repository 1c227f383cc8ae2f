"""the process that creates each tenant reseller; orgs in setup (repairs 0004)

tenant_reseller.creation_process_id names the process that builds the tenant; the
organisation of a tenant still being created is in status 'setup' (closed to login).

This change was shipped inside revision 0004 after 0004 had first been released, so a
store may be at 0004 with the column or without it: the column is added only where it is
missing (detected by the store's own columns), and the data steps are safe to repeat.
Migrations are append-only: a shipped revision never changes.

Revision ID: 0005r
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005r'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c['name'] for c in sa.inspect(op.get_bind()).get_columns('tenant_reseller')}
    if 'creation_process_id' not in columns:
        with op.batch_alter_table('tenant_reseller') as batch_op:
            batch_op.add_column(sa.Column('creation_process_id', sa.Integer(), nullable=True))
    # A tenant asked for before the column: the newest creation process of its account.
    op.execute(
        "UPDATE tenant_reseller SET creation_process_id = ("
        "SELECT max(process.id) FROM process WHERE process.kind = 'tenant.create' "
        "AND process.lock_key = 'tenant-create:' || CAST(tenant_reseller.account_id AS TEXT)) "
        "WHERE creation_process_id IS NULL"
    )
    # The organisation of a tenant whose creation has not finished is closed to login.
    op.execute(
        "UPDATE organisation SET status = 'setup' WHERE status = 'active' AND id IN ("
        "SELECT org_id FROM tenant_reseller WHERE status = 'in-progress' "
        "AND org_id IS NOT NULL)"
    )


def downgrade() -> None:
    # The column stays: revision 0004 as it shipped last makes it, and drops it on its own
    # downgrade; the data steps need no undoing.
    pass
