-- unit_cost stays text here: the supplier sheet still says "tbd" for one product.
select
    product_id,
    product_name,
    category,
    cast(unit_price as decimal(8, 2)) as unit_price,
    unit_cost as unit_cost_raw
from {{ ref('raw_products') }}
