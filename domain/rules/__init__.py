"""The procedure's rules (SPEC section 4) as small pure functions: plain values in, a verdict with its evidence out."""
