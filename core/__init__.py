"""Small building blocks every layer may use: domain errors, identifiers, currencies, the clock."""
