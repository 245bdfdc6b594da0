"""Reading, cleaning and scaling data: polars and numpy only, never torch."""
