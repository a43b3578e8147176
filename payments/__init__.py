"""Collecting money: cards on file through a gateway, charges and their attempts, dunning."""
