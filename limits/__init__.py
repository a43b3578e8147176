"""Rate limits and cost budgets kept in the database, so every worker and host shares them."""
