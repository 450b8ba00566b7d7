"""Alert rules and the fleet inbox (DESIGN §11): ``config`` (rules as data), ``engine`` (one call's rules,
pure), ``inbox`` (the log across calls), ``fleet`` (the supervisor's wiring of both)."""
