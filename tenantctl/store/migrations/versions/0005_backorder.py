"""back-ordering: the outbox, event keys on the parent's rows, the quantity history

backorder_event is the outbox of SPEC section 7: one row per change in a tenant that its
parent mirrors. The rows a delivery makes in the parent (the copied customer, the mirror,
the order) carry the event id under a unique key, so an event is applied once; a mirror
has a name ("End customer - Product"). A sales
order names the subscription or asset it sold, and each order line the quantity after the
sale (the quantity history of SPEC section 8).

Revision ID: 0005
Revises: 0005r
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0005r'
branch_labels = None
depends_on = None

_EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_KEYED = ('account', 'subscription', 'asset', 'sales_order')
_UNIQUE = {'account': 'uq_account_backorder_event',
           'subscription': 'uq_subscription_backorder_event',
           'asset': 'uq_asset_backorder_event',
           'sales_order': 'uq_order_backorder_event'}


def upgrade() -> None:
    op.create_table(
        'backorder_event',
        sa.Column('id', _EVENT_ID, nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('effective_date', sa.Date(), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organisation.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant_reseller.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('backorder_event') as batch_op:
        batch_op.create_index('ix_backorder_event_org_id', ['org_id'], unique=False)
        batch_op.create_index('ix_backorder_event_pending',
                              ['tenant_id', 'delivered_at', 'id'], unique=False)
        batch_op.create_index('ix_backorder_event_undelivered',
                              ['delivered_at', 'tenant_id'], unique=False)

    for table in _KEYED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('backorder_event_id', _EVENT_ID, nullable=True))
            batch_op.create_unique_constraint(_UNIQUE[table], ['backorder_event_id'])

    for table in ('subscription', 'asset'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=300),
                                          nullable=True))

    with op.batch_alter_table('sales_order') as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('asset_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_sales_order_subscription_id', ['subscription_id'],
                              unique=False)
        batch_op.create_index('ix_sales_order_asset_id', ['asset_id'], unique=False)
        batch_op.create_foreign_key('fk_sales_order_subscription', 'subscription',
                                    ['subscription_id'], ['id'])
        batch_op.create_foreign_key('fk_sales_order_asset', 'asset', ['asset_id'], ['id'])

    with op.batch_alter_table('order_line') as batch_op:
        batch_op.add_column(sa.Column('quantity_after', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('order_line') as batch_op:
        batch_op.drop_column('quantity_after')
    with op.batch_alter_table('sales_order') as batch_op:
        batch_op.drop_constraint('fk_sales_order_asset', type_='foreignkey')
        batch_op.drop_constraint('fk_sales_order_subscription', type_='foreignkey')
        batch_op.drop_index('ix_sales_order_asset_id')
        batch_op.drop_index('ix_sales_order_subscription_id')
        batch_op.drop_column('asset_id')
        batch_op.drop_column('subscription_id')
    for table in ('asset', 'subscription'):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('name')
    for table in reversed(_KEYED):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(_UNIQUE[table], type_='unique')
            batch_op.drop_column('backorder_event_id')
    op.drop_table('backorder_event')
