select
    order_id,
    customer_id,
    product_id,
    ordered_at,
    quantity,
    status
from {{ ref('raw_orders') }}
