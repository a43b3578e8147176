"""Catalog and prices, money, subscriptions and usage, invoices, statements, payments."""
