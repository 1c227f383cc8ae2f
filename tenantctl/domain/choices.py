"""Fixed choices that the CLI's help texts name. This module imports nothing, so that
`tenantctl --help` can show them without loading the store."""

PAYMENT_METHODS = ("invoice", "bank-transfer", "direct-debit", "credit-card")
