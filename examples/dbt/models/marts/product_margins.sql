-- Deliberately fails at run time: one unit_cost is the text "tbd", so the cast raises a
-- conversion error while DuckDB builds the table (dbt compiles it fine).
select
    product_id,
    product_name,
    unit_price,
    cast(unit_cost_raw as decimal(8, 2)) as unit_cost,
    unit_price - cast(unit_cost_raw as decimal(8, 2)) as margin
from {{ ref('stg_products') }}
