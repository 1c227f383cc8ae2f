"""tenantctl: make a distributor's reseller a tenant reseller with its own BSS."""

__version__ = "0.1.0"
