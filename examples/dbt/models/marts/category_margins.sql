-- Downstream of product_margins, so `dbt build` / `dbt run` skip it.
select
    p.category,
    avg(m.margin) as avg_margin
from {{ ref('product_margins') }} as m
join {{ ref('stg_products') }} as p using (product_id)
group by p.category
