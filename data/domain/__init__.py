"""Pure domain logic: decisions on values, no I/O, no clock of their own."""
