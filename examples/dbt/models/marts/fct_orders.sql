select
    o.order_id,
    o.ordered_at,
    cast(o.ordered_at as date) as order_date,
    c.customer_id,
    c.first_name,
    p.product_id,
    p.product_name,
    p.category,
    o.quantity,
    o.status,
    o.quantity * p.unit_price as order_total
from {{ ref('stg_orders') }} as o
join {{ ref('stg_customers') }} as c using (customer_id)
join {{ ref('stg_products') }} as p using (product_id)
where o.status <> 'cancelled'
