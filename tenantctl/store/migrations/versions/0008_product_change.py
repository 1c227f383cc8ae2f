"""product_change: the names and add-on relations a scheduled price-list revision gives its
products, applied on the revision's effective date (as its prices take effect then)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import tenantctl.store.types


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('revision_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('add_on_of_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['add_on_of_id'], ['product.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.ForeignKeyConstraint(['revision_id'], ['price_list_revision.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('product_change', schema=None) as batch_op:
        batch_op.create_index('ix_product_change_due', ['applied_at', 'effective_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_change_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_change_revision_id'), ['revision_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('product_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_change_revision_id'))
        batch_op.drop_index(batch_op.f('ix_product_change_product_id'))
        batch_op.drop_index('ix_product_change_due')

    op.drop_table('product_change')
